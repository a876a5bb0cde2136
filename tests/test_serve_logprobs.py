"""OpenAI `logprobs` on /v1/completions (legacy shape) and /v1/chat/completions (chat shape), streamed and not:
the values are the model's own log_softmax at each position (checked against a plain forward pass and the
engine), the official `openai` client parses them, and asking for more than 20 is a 400."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.generate import GenerationConfig  # noqa: E402
from lanternlm.generate.chat import chat_prompt  # noqa: E402
from lanternlm.serve import ServeLimits, create_app, load_models  # noqa: E402
from serve_helpers import running_server  # noqa: E402
from test_serve import post  # noqa: E402

SAMPLING = {"max_tokens": 12, "temperature": 0.9, "seed": 7}
CHAT = [{"role": "user", "content": "Good morrow!"}]


@pytest.fixture(scope="module")
def served(tiny_run):
    return next(iter(load_models([tiny_run], torch.device("cpu")).values()))


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app({served.name: served}, ServeLimits(max_new_tokens=64))) as c:
        yield c


def stream(client, path, body) -> list[dict]:
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@torch.no_grad()
def model_logprobs(model, prompt_ids: list[int], new_ids: list[int]) -> torch.Tensor:
    """log_softmax(z) at every generated position, from one plain forward pass: (len(new_ids), V)."""
    ids = torch.tensor([prompt_ids + new_ids])
    logits = model(ids).logits[0, len(prompt_ids) - 1:-1]
    return torch.log_softmax(logits.double(), dim=-1)


def test_completion_logprobs_are_the_models_log_softmax(client, served):
    prompt, n = "ROMEO:", 5
    data = post(client, "/v1/completions", {"model": served.name, "prompt": prompt, "logprobs": n, **SAMPLING})
    choice = data["choices"][0]
    lp = choice["logprobs"]
    tokenizer = served.tokenizer
    new_ids = [tokenizer.encode(t)[0] for t in lp["tokens"]]  # character tokens: one id each
    assert "".join(lp["tokens"]) == choice["text"] and len(new_ids) == 12
    reference = model_logprobs(served.model, tokenizer.encode(prompt), new_ids)
    for i, (token_id, chosen, top) in enumerate(zip(new_ids, lp["token_logprobs"], lp["top_logprobs"])):
        assert abs(chosen - reference[i, token_id].item()) < 1e-5
        best = reference[i].topk(n).indices.tolist()
        assert set(top) == {tokenizer.token_text(j) for j in best} | {lp["tokens"][i]}  # N most likely + chosen
        for text, value in top.items():
            assert abs(value - reference[i, tokenizer.encode(text)[0]].item()) < 1e-5
    offsets = [len(prompt) + len("".join(lp["tokens"][:i])) for i in range(12)]
    assert lp["text_offset"] == offsets  # characters from the start of the prompt


def test_logprobs_equal_the_engines(served, client):
    """The API hands out exactly the engine's per-step log-probabilities (same seed, same config)."""
    data = post(client, "/v1/completions", {"model": served.name, "prompt": "KING:", "logprobs": 2, **SAMPLING})
    config = GenerationConfig(max_new_tokens=12, temperature=0.9, seed=7, top_logprobs=2)
    steps = list(served.engine.steps([served.tokenizer.encode("KING:")], config))
    assert data["choices"][0]["logprobs"]["token_logprobs"] == [float(s.logprobs[0]) for s in steps]


def test_chat_logprobs_shape_and_values(client, served):
    body = {"model": served.name, "messages": CHAT, "logprobs": True, "top_logprobs": 3, **SAMPLING}
    data = post(client, "/v1/chat/completions", body)
    content = data["choices"][0]["logprobs"]["content"]
    prompt = chat_prompt(CHAT, served.tokenizer, served.model.config.block_size, 12)
    new_ids = [served.tokenizer.encode(entry["token"])[0] for entry in content]
    reference = model_logprobs(served.model, prompt.ids, new_ids)
    for i, entry in enumerate(content):
        assert entry["bytes"] == list(entry["token"].encode("utf-8"))
        assert abs(entry["logprob"] - reference[i, new_ids[i]].item()) < 1e-5
        assert [t["token"] for t in entry["top_logprobs"]] == [
            served.tokenizer.token_text(j) for j in reference[i].topk(3).indices.tolist()]
        values = [t["logprob"] for t in entry["top_logprobs"]]
        assert values == sorted(values, reverse=True)
    assert "".join(e["token"] for e in content).startswith(data["choices"][0]["message"]["content"])
    plain = post(client, "/v1/chat/completions", {**body, "top_logprobs": None})  # logprobs alone: no alternatives
    assert all(e["top_logprobs"] == [] for e in plain["choices"][0]["logprobs"]["content"])
    assert post(client, "/v1/chat/completions", {**body, "logprobs": False, "top_logprobs": None}
                )["choices"][0]["logprobs"] is None


@pytest.mark.parametrize("chat", [False, True])
def test_streamed_logprobs_equal_the_whole_response(client, served, chat):
    if chat:
        path, body = "/v1/chat/completions", {"messages": CHAT, "logprobs": True, "top_logprobs": 2}
    else:
        path, body = "/v1/completions", {"prompt": "ROMEO:", "logprobs": 2}
    body = {"model": served.name, **SAMPLING, **body}
    whole = post(client, path, body)["choices"][0]["logprobs"]
    chunks = [c["choices"][0]["logprobs"] for c in stream(client, path, body) if c["choices"]]
    pieces = [lp for lp in chunks if lp]
    assert len(pieces) == 12  # one chunk per token
    if chat:
        assert [e for piece in pieces for e in piece["content"]] == whole["content"]
    else:
        assert {k: [v for piece in pieces for v in piece[k]] for k in whole} == whole


BAD = [
    ("/v1/completions", {"prompt": "hi", "logprobs": 21}, "less than or equal to 20"),
    ("/v1/completions", {"prompt": "hi", "logprobs": -1}, "logprobs"),
    ("/v1/completions", {"prompt": "hi", "logprobs": True}, "logprobs"),
    ("/v1/chat/completions", {"messages": CHAT, "logprobs": True, "top_logprobs": 21}, "less than or equal to 20"),
    ("/v1/chat/completions", {"messages": CHAT, "top_logprobs": 3}, "top_logprobs needs logprobs: true"),
    ("/v1/chat/completions", {"messages": CHAT, "logprobs": 3}, "logprobs"),
]


@pytest.mark.parametrize("path, body, words", BAD)
def test_too_many_or_malformed_logprobs_are_400(client, served, path, body, words):
    data = post(client, path, {"model": served.name, **body}, status=400)
    assert words in data["error"]["message"]


@pytest.mark.slow
@pytest.mark.xdist_group("serve-live")
def test_official_client_parses_logprobs_streamed_and_not(tiny_run):
    openai = pytest.importorskip("openai")
    with running_server(str(tiny_run)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)
        completion = client.completions.create(model=tiny_run.name, prompt="ROMEO:", logprobs=3, **SAMPLING)
        lp = completion.choices[0].logprobs
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 12
        assert all(isinstance(v, float) and v <= 0 for v in lp.token_logprobs)

        chat = client.chat.completions.create(model=tiny_run.name, messages=CHAT, logprobs=True, top_logprobs=3,
                                              **SAMPLING)
        content = chat.choices[0].logprobs.content
        assert len(content) == 12 and all(len(t.top_logprobs) == 3 and t.bytes for t in content)

        streamed = client.chat.completions.create(model=tiny_run.name, messages=CHAT, logprobs=True,
                                                  top_logprobs=3, stream=True, **SAMPLING)
        tokens = [t for c in streamed if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
        assert [(t.token, t.logprob) for t in tokens] == [(t.token, t.logprob) for t in content]

        pieces = client.completions.create(model=tiny_run.name, prompt="ROMEO:", logprobs=3, stream=True, **SAMPLING)
        streamed_lp = [v for c in pieces if c.choices and c.choices[0].logprobs
                       for v in c.choices[0].logprobs.token_logprobs]
        assert streamed_lp == lp.token_logprobs
        with pytest.raises(openai.BadRequestError, match="20"):
            client.completions.create(model=tiny_run.name, prompt="ROMEO:", logprobs=21, max_tokens=2)

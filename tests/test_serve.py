"""lantern serve in-process (FastAPI TestClient): the OpenAI-compatible API against independent references
(hand-rolled greedy decoding, the engine with the same config), the playground API against direct tensor
computations, bad input as 4xx JSON, the API key, and the scheduler's policy on its own."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.generate import Engine, GenerationConfig  # noqa: E402
from lanternlm.generate.chat import render  # noqa: E402
from lanternlm.serve import ServeLimits, create_app, load_models  # noqa: E402
from lanternlm.serve.scheduler import GenerationTimeout, Overloaded, Scheduler  # noqa: E402
from lanternlm.train.metrics import read_metrics  # noqa: E402


@pytest.fixture(scope="module")
def models(tiny_run):
    return load_models([tiny_run], torch.device("cpu"))


@pytest.fixture(scope="module")
def client(models, tiny_run):
    limits = ServeLimits(max_new_tokens=64, max_body_bytes=4096, max_choices=4)
    with TestClient(create_app(models, limits, runs_dir=tiny_run.parent)) as c:
        yield c


@pytest.fixture(scope="module")
def served(models):
    return next(iter(models.values()))


def greedy_reference(model, ids: list[int], steps: int) -> list[int]:
    """Argmax decoding by hand, the whole window every step (no engine, no cache)."""
    ids = list(ids)
    for _ in range(steps):
        window = torch.tensor([ids[-model.config.block_size:]])
        ids.append(int(model(window).logits[0, -1].argmax()))
    return ids


def post(client, path, body, status=200):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_models_are_listed_by_run_name(client, tiny_run):
    data = client.get("/v1/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == [tiny_run.name]
    assert client.get(f"/v1/models/{tiny_run.name}").json()["id"] == tiny_run.name
    assert client.get("/v1/models/nope").status_code == 404


def test_greedy_completion_equals_hand_rolled_decoding(client, served):
    prompt = "ROMEO:"
    ids = served.tokenizer.encode(prompt)
    expected = served.tokenizer.decode(greedy_reference(served.model, ids, 12)[len(ids):])
    data = post(client, "/v1/completions", {"model": served.name, "prompt": prompt, "max_tokens": 12,
                                            "temperature": 0})
    assert data["object"] == "text_completion"
    assert data["choices"][0]["text"] == expected and data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 12, "total_tokens": len(ids) + 12}


@pytest.mark.parametrize("sampling", [
    {"temperature": 0.8, "seed": 3},
    {"temperature": 1.2, "top_p": 0.7, "top_k": 8, "seed": 11},
    {"temperature": 1.0, "presence_penalty": 1.5, "frequency_penalty": 0.7, "repetition_penalty": 1.4, "seed": 5},
    {"temperature": 0.9, "min_p": 0.1, "seed": 9},
])
def test_sampling_fields_reach_the_engine(client, served, sampling):
    """The API's output equals the engine's with the same GenerationConfig (each field is passed through)."""
    config = GenerationConfig(max_new_tokens=20, **sampling)
    expected = Engine(served.model, served.tokenizer).generate("KING:", config=config)
    data = post(client, "/v1/completions", {"model": served.name, "prompt": "KING:", "max_tokens": 20, **sampling})
    assert data["choices"][0]["text"] == expected


def test_concurrent_requests_share_forward_passes_and_each_gets_what_it_gets_alone(models, served, monkeypatch):
    """Continuous batching: eight requests with their own settings and seeds, sent at once, one streamed and
    one abandoned; every finished one equals the engine's output for it alone."""
    from concurrent.futures import ThreadPoolExecutor

    from lanternlm.generate.session import DecodingSession

    shared = []
    original = DecodingSession._run_together
    monkeypatch.setattr(DecodingSession, "_run_together", lambda self, rows: shared.append(len(rows)) or
                        original(self, rows))
    bodies = [{"model": served.name, "prompt": prompt, "max_tokens": 16 + 2 * i, **sampling}
              for i, (prompt, sampling) in enumerate(zip(["KING:", "First", "ROMEO:", "O", "Thou", "KING:", "A", "B"],
                                                         [{"temperature": 0}, {"seed": 1}, {"seed": 2, "top_k": 5},
                                                          {"seed": 3, "n": 2}, {"temperature": 0.5, "seed": 4},
                                                          {"seed": 5, "repetition_penalty": 1.3}, {"seed": 6},
                                                          {"seed": 7, "min_p": 0.1}]))]
    engine = Engine(served.model, served.tokenizer)
    with TestClient(create_app(models, ServeLimits(max_new_tokens=64, request_timeout=900))) as c:  # a busy CI box
        def send(body):
            return c.post("/v1/completions", json=body).json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, bodies))
    assert max(shared) >= 3  # several requests really shared one forward pass
    for body, answer in zip(bodies, answers):
        options = {k: v for k, v in body.items() if k not in ("model", "prompt", "max_tokens", "n")}
        rows = [served.tokenizer.encode(body["prompt"])] * body.get("n", 1)
        config = engine.settings(max_new_tokens=body["max_tokens"], **options)
        expected = ["".join(d.text for step in engine.stream_rows(rows, config) for d in step.deltas if d.row == i)
                    for i in range(len(rows))]
        assert [choice["text"] for choice in answer.get("choices", [])] == expected, answer


def test_seed_repeats_and_n_gives_distinct_choices(client, served):
    body = {"model": served.name, "prompt": "First", "max_tokens": 24, "n": 3, "seed": 1234, "temperature": 1.0}
    first, second = post(client, "/v1/completions", body), post(client, "/v1/completions", body)
    texts = [c["text"] for c in first["choices"]]
    assert [c["index"] for c in first["choices"]] == [0, 1, 2]
    assert texts == [c["text"] for c in second["choices"]]
    assert len(set(texts)) == 3
    assert first["usage"]["completion_tokens"] == 72


def test_stop_sequence_cuts_the_text(client, served):
    base = post(client, "/v1/completions", {"model": served.name, "prompt": "ROMEO:", "max_tokens": 30,
                                            "temperature": 0})["choices"][0]["text"]
    stop = base[6:8]
    data = post(client, "/v1/completions", {"model": served.name, "prompt": "ROMEO:", "max_tokens": 30,
                                            "temperature": 0, "stop": stop})
    assert data["choices"][0]["text"] == base[:base.index(stop)]
    assert data["choices"][0]["finish_reason"] == "stop"


def chat_body(served, **extra):
    return {"model": served.name, "messages": [{"role": "system", "content": "Speak verse."},
                                               {"role": "user", "content": "Who goes there?"}],
            "max_tokens": 16, "temperature": 0, **extra}


def test_chat_renders_the_template(client, served):
    """The prompt is the rendered chat, its oldest tokens dropped to leave room for the reply in the window."""
    messages = chat_body(served)["messages"]
    block = served.model.config.block_size
    prompt = render(messages, served.tokenizer).ids[-max(block - 16, block // 2):]
    data = post(client, "/v1/chat/completions", chat_body(served))
    assert data["object"] == "chat.completion"
    assert data["usage"]["prompt_tokens"] == len(prompt)
    reply = data["choices"][0]["message"]
    assert reply["role"] == "assistant"
    expected = served.tokenizer.decode(greedy_reference(served.model, prompt, 16)[len(prompt):])
    assert expected.startswith(reply["content"])  # the same greedy text, cut at the end-of-turn marker if any


def sse_events(response) -> list:
    lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def test_streamed_chat_equals_the_whole_reply(client, served):
    whole = post(client, "/v1/chat/completions", chat_body(served))["choices"][0]["message"]["content"]
    body = chat_body(served, stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]]
    assert "".join(pieces) == whole and len([p for p in pieces if p]) > 1
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"]][-1] in ("stop", "length")
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_streamed_completion_chunks(client, served):
    body = {"model": served.name, "prompt": "ROMEO:", "max_tokens": 10, "temperature": 0, "stream": True}
    whole = post(client, "/v1/completions", {**body, "stream": False})["choices"][0]["text"]
    with client.stream("POST", "/v1/completions", json=body) as response:
        events = sse_events(response)
    assert "".join(e["choices"][0]["text"] for e in events) == whole
    assert events[-1]["choices"][0]["finish_reason"] == "length"


BAD_REQUESTS = [
    ("/v1/completions", b'{"model": "x", "prompt": ', 400, "not valid JSON"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": "5"}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "hi", "temperature": "hot"}, 400, "temperature"),
    ("/v1/completions", {"prompt": 5}, 400, "prompt"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": -3}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "hi", "top_p": 1.5}, 400, "top_p"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 10_000}, 400, "limit of 64"),
    ("/v1/completions", {"prompt": "hi", "n": 5}, 400, "limit is 4"),
    ("/v1/completions", {"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ("/v1/completions", {"prompt": ""}, 400, "prompt"),
    ("/v1/completions", {"prompt": "hi", "model": "no-such-model"}, 404, "does not exist"),
    ("/v1/completions", {"prompt": "hi", "logprobs": 21}, 400, "logprobs"),
    ("/v1/completions", {"prompt": "x" * 5000}, 413, "larger than"),
    ("/v1/chat/completions", {"messages": []}, 400, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "hi"}]}, 400, "role"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
     400, "system"),
    ("/api/next-token", {"text": "hi", "temperature": 0}, 400, "temperature"),
    ("/api/embeddings/neighbours", {"token": "hello"}, 400, "exactly one token"),
    ("/api/embeddings/neighbours", {"token": 10_000}, 400, "out of range"),
]


@pytest.mark.parametrize("path, body, status, words", BAD_REQUESTS)
def test_bad_input_is_a_json_4xx_and_the_server_keeps_serving(client, served, path, body, status, words):
    if isinstance(body, dict) and path.startswith("/v1"):
        body = {"model": served.name, **body}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"] and error["type"]
    assert post(client, "/v1/completions", {"model": served.name, "prompt": "hi", "max_tokens": 2})["choices"]


def test_an_unexpected_error_is_a_json_500_response_not_a_raised_one(models, monkeypatch):
    """The error is answered inside the app (so the server keeps the client's connection), never re-raised."""
    from lanternlm.serve import lens

    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lens, "tokenize", broken)
    with TestClient(create_app(models)) as c:  # raise_server_exceptions: a re-raised error would fail here
        response = c.post("/api/tokenize", json={"text": "KING"})
        assert response.status_code == 500
        assert response.json()["error"]["message"] == "internal error (RuntimeError: a bug)"
        assert c.post("/api/tokenize", json={"text": "KING", "model": "tiny"}).status_code == 500


def test_api_key_guards_the_apis_not_the_page(models):
    with TestClient(create_app(models, api_key="s3cret")) as c:
        body = {"prompt": "hi", "max_tokens": 2, "model": next(iter(models))}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = c.post("/v1/completions", json=body, headers=headers)
            assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
        assert c.get("/api/models").status_code == 401
        assert c.post("/v1/completions", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/").status_code == 200 and "Lantern" in c.get("/").text


# ---- playground API ---------------------------------------------------------------------------------------

def test_tokenize_counts_tokens(client, served):
    text = "Hello, world!\nWhat's this?"
    data = post(client, "/api/tokenize", {"text": text})
    assert data["count"] == len(served.tokenizer.encode(text)) and data["characters"] == len(text)
    assert "".join(t["text"] for t in data["tokens"]) == text


def test_next_token_is_softmax_over_temperature(client, served):
    ids = served.tokenizer.encode("ROMEO: ")
    logits = served.model(torch.tensor([ids])).logits[0, -1].detach()
    for temperature in (0.5, 2.0):
        data = post(client, "/api/next-token", {"text": "ROMEO: ", "temperature": temperature, "top": 5})
        expected = torch.softmax(logits / temperature, -1).topk(5)
        assert [t["id"] for t in data["tokens"]] == expected.indices.tolist()
        assert [t["prob"] for t in data["tokens"]] == pytest.approx(expected.values.tolist(), rel=1e-5)


def test_attention_maps_are_causal_rows_of_the_model(client, served):
    text = "To be, or not"
    data = post(client, "/api/attention", {"text": text})
    ids = served.tokenizer.encode(text)
    out = served.model(torch.tensor([ids]), return_attention=True)
    c = served.model.config
    assert (data["n_layer"], data["n_head"], len(data["tokens"])) == (c.n_layer, c.n_head, len(ids))
    weights = torch.tensor(data["layers"])
    assert weights.shape == (c.n_layer, c.n_head, len(ids), len(ids))
    assert torch.allclose(weights, torch.stack([a[0] for a in out.attentions]).detach(), atol=1e-4)
    assert torch.allclose(weights.sum(-1), torch.ones(()), atol=1e-3)
    assert torch.all(weights.triu(1) == 0)


def test_embedding_neighbours_and_analogy_by_brute_force(client, served):
    E = served.model.wte.weight.detach()
    tid = served.tokenizer.encode("e")[0]
    cos = torch.nn.functional.cosine_similarity(E[tid][None], E)
    cos[tid] = -2
    data = post(client, "/api/embeddings/neighbours", {"token": "e", "k": 5})
    assert [t["id"] for t in data["neighbours"]] == cos.topk(5).indices.tolist()

    a, b, c = (served.tokenizer.encode(ch)[0] for ch in "aAb")
    unit = E / E.norm(dim=1, keepdim=True)
    scores = torch.nn.functional.cosine_similarity((unit[b] - unit[a] + unit[c])[None], E)
    scores[[a, b, c]] = -2
    data = post(client, "/api/embeddings/analogy", {"a": "a", "b": "A", "c": "b", "k": 3})
    assert [t["id"] for t in data["answers"]] == scores.topk(3).indices.tolist()

    projection = post(client, "/api/embeddings/projection", {"count": 40})
    assert len(projection["points"]) == 40 and 0 < sum(projection["explained_variance"]) <= 1


def test_runs_and_their_metrics(client, tiny_run):
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == [tiny_run.name] and runs[0]["served"]
    records = client.get(f"/api/runs/{tiny_run.name}/metrics").json()["records"]
    logged = read_metrics(tiny_run / "metrics.jsonl")
    assert len(records) == len([r for r in logged if "summary" not in r]) and all(len(r) > 1 for r in records)
    assert client.get("/api/runs/..%2F..%2Fetc/metrics").status_code == 404


# ---- the scheduler on its own -----------------------------------------------------------------------------

def run_async(coro):
    return asyncio.run(coro)


def test_scheduler_interleaves_jobs_round_robin():
    order, closed = [], []

    def job(name, steps):
        try:
            for i in range(steps):
                order.append(name)
                yield i
        finally:
            closed.append(name)

    async def main():
        scheduler = Scheduler(max_active=4)
        try:
            results = await asyncio.gather(scheduler.result(job("a", 3)), scheduler.result(job("b", 3)))
        finally:
            scheduler.stop()
        return results

    assert run_async(main()) == [[0, 1, 2], [0, 1, 2]]
    assert order == ["a", "b", "a", "b", "a", "b"] and sorted(closed) == ["a", "b"]


def test_scheduler_cancels_times_out_overloads_and_survives_errors():
    closed = []

    def endless():
        try:
            while True:
                yield 1
        finally:
            closed.append(True)

    def broken():
        raise ValueError("boom")
        yield

    async def main():
        scheduler = Scheduler(max_active=2, max_waiting=1, timeout=0.2)
        try:
            events = scheduler.submit(endless()).events()
            async for _ in events:
                break
            await events.aclose()  # leaving the stream, as on a disconnect: the job is cancelled and closed
            with pytest.raises(GenerationTimeout):
                await scheduler.result(endless())
            with pytest.raises(ValueError, match="boom"):
                await scheduler.result(broken())
            scheduler.max_active = 0  # nothing runs: the waiting queue fills up
            scheduler.submit(iter([1]))
            with pytest.raises(Overloaded):
                scheduler.submit(iter([1]))
            scheduler.max_active = 2
            await asyncio.sleep(0.05)
            assert await scheduler.result(iter([7])) == [7]  # the worker is still alive
        finally:
            scheduler.stop()
        return scheduler.stats

    stats = run_async(main())
    assert len(closed) == 2 and stats.cancelled == 1 and stats.timed_out == 1 and stats.failed == 1
    assert stats.rejected == 1


def test_cli_errors_are_one_line(tmp_path, tiny_run, capsys):
    from lanternlm.cli import main

    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["serve", str(tiny_run), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", str(tiny_run), "--threads", "0"]) == 2

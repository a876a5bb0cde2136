"""`lantern serve` as a real process on loopback, driven by the official `openai` client and raw HTTP:
models, completion, chat, streamed chat; bad input answered with 4xx JSON while the server keeps serving;
a client that disconnects mid-stream stops its generation."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
import httpx  # noqa: E402

from serve_helpers import running_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-live")]
KEY = "test-key-123"


@pytest.fixture(scope="module")
def server(tiny_run):
    with running_server(str(tiny_run), "--api-key", KEY, "--max-tokens", "2000") as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=60)


def test_official_client_models_completion_chat_and_stream(client, tiny_run):
    assert [m.id for m in client.models.list()] == [tiny_run.name]

    completion = client.completions.create(model=tiny_run.name, prompt="ROMEO:", max_tokens=8, temperature=0)
    assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 8
    assert len(completion.choices[0].text) > 0

    chat = client.chat.completions.create(model=tiny_run.name, max_tokens=10, seed=4, temperature=0.7,
                                          messages=[{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Hail!"}])
    assert chat.choices[0].message.role == "assistant" and chat.usage.prompt_tokens > 0

    stream = client.chat.completions.create(model=tiny_run.name, max_tokens=10, seed=4, temperature=0.7,
                                            stream=True, messages=[{"role": "system", "content": "Be brief."},
                                                                   {"role": "user", "content": "Hail!"}])
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == chat.choices[0].message.content  # same seed, same text, streamed in pieces


def test_wrong_key_and_bad_input_are_4xx_json(server, client, tiny_run):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.completions.create(model="nope", prompt="hi", max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.completions.create(model=tiny_run.name, prompt="hi", max_tokens=-1)
    with pytest.raises(openai.BadRequestError, match="top_p"):
        client.chat.completions.create(model=tiny_run.name, messages=[{"role": "user", "content": "hi"}], top_p=2)
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for body, status in ((b"{not json", 400), (b'{"model": 3, "prompt": []}', 400), (b"x" * (2 << 20), 413)):
        response = httpx.post(server + "/v1/completions", content=body, headers=auth, timeout=30)
        assert response.status_code == status and response.json()["error"]["message"]
    assert client.completions.create(model=tiny_run.name, prompt="hi", max_tokens=2).choices  # still serving


def stats(server) -> dict:
    return httpx.get(server + "/api/stats", headers={"Authorization": f"Bearer {KEY}"}).json()


def wait_for_cancel(server, before: dict) -> dict:
    deadline = time.monotonic() + 30  # the generation is dropped at its next turn, long before 2000 tokens
    while stats(server)["cancelled"] == before["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return stats(server)


@pytest.mark.parametrize("stream", [True, False])
def test_disconnect_stops_generation(server, tiny_run, stream):
    before = stats(server)
    body = {"model": tiny_run.name, "prompt": "ROMEO:", "max_tokens": 2000, "stream": stream}
    headers = {"Authorization": f"Bearer {KEY}"}
    if stream:  # read the first chunk, then hang up
        with httpx.stream("POST", server + "/v1/completions", json=body, timeout=30, headers=headers) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data: "))
            assert "choices" in json.loads(first[6:])
    else:  # give up waiting for the whole answer
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server + "/v1/completions", json=body, timeout=httpx.Timeout(30, read=0.5), headers=headers)
    after = wait_for_cancel(server, before)
    assert after["cancelled"] == before["cancelled"] + 1 and after["active"] == 0
    assert after["completed"] == before["completed"]

"""The bad-input corpus of the HTTP API, against a real `lantern serve` process: every case is a 4xx with an
OpenAI-shaped JSON error (never a 5xx, never a hang: each request has a 60 s client timeout), and the server
keeps serving good requests afterwards. Cases that once cost the server dearly are here too: a 900 KB stop
string, thousands of chat messages, seeds past 2**64."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from serve_helpers import running_server  # noqa: E402

pytestmark = pytest.mark.xdist_group("bad-input-api")  # one server, the cases in order, the check last

GOOD_COMPLETION = {"model": "tiny", "prompt": "KING:", "max_tokens": 4}
GOOD_CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


def completion(**changes):
    body = {**GOOD_COMPLETION, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


def chat(**changes):
    body = {**GOOD_CHAT, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()
MANY = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ho"}] * 2500

COMPLETIONS = {
    "no model": completion(model=DROP), "unknown model": completion(model="nope"), "empty model": completion(model=""),
    "model not a string": completion(model=3), "no prompt": completion(prompt=DROP), "empty prompt": completion(prompt=""),
    "empty prompt list": completion(prompt=[]), "prompt list with empty": completion(prompt=["a", ""]),
    "prompt int": completion(prompt=5), "prompt ids": completion(prompt=[1, 2]), "prompt null": completion(prompt=None),
    "prompt dict": completion(prompt={"a": 1}), "unencodable prompt": completion(prompt="日本語"),
    "prompt too long": completion(prompt="a" * 9000), "max_tokens 0": completion(max_tokens=0),
    "max_tokens negative": completion(max_tokens=-1), "max_tokens huge": completion(max_tokens=10**9),
    "max_tokens string": completion(max_tokens="10"), "max_tokens float": completion(max_tokens=2.5),
    "max_tokens bool": completion(max_tokens=True), "temperature negative": completion(temperature=-0.1),
    "temperature 3": completion(temperature=3), "temperature string": completion(temperature="hot"),
    "top_p 0": completion(top_p=0), "top_p 1.5": completion(top_p=1.5), "top_k negative": completion(top_k=-1),
    "min_p 2": completion(min_p=2), "n 0": completion(n=0), "n 100": completion(n=100), "n string": completion(n="2"),
    "prompts x n": completion(prompt=["a"] * 5, n=4), "empty stop": completion(stop=""),
    "empty stop in list": completion(stop=["\n", ""]), "five stops": completion(stop=["a", "b", "c", "d", "e"]),
    "long stop": completion(stop="x" * 201), "900 KB stop": completion(stop="ab" * 450_000),
    "stop int": completion(stop=4), "seed negative": completion(seed=-1), "seed 2**64": completion(seed=2**64),
    "seed 10**30": completion(seed=10**30), "seed float": completion(seed=1.5),
    "presence 3": completion(presence_penalty=3), "frequency -3": completion(frequency_penalty=-3),
    "repetition 0": completion(repetition_penalty=0), "repetition 11": completion(repetition_penalty=11),
    "stream string": completion(stream="yes"), "stream_options list": completion(stream=True, stream_options=[1]),
    "logprobs 21": completion(logprobs=21), "logprobs true": completion(logprobs=True),
    "echo": completion(echo=True), "suffix": completion(suffix="x"),
    "tools": completion(tools=[{"type": "function"}]),
}
CHATS = {
    "no messages": chat(messages=DROP), "empty messages": chat(messages=[]), "messages dict": chat(messages={"a": 1}),
    "message not object": chat(messages=["hi"]), "unknown role": chat(messages=[{"role": "robot", "content": "x"}]),
    "tool role": chat(messages=[{"role": "tool", "content": "x"}]), "no role": chat(messages=[{"content": "x"}]),
    "content int": chat(messages=[{"role": "user", "content": 5}]),
    "content parts wrong": chat(messages=[{"role": "user", "content": [{"type": "image_url", "url": "x"}]}]),
    "system not first": chat(messages=[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]),
    "unencodable content": chat(messages=[{"role": "user", "content": "日本"}]),
    "5000 messages": chat(messages=MANY), "max_completion_tokens 0": chat(max_completion_tokens=0),
    "max_tokens huge": chat(max_tokens=10**6), "temperature nan-like string": chat(temperature="NaN"),
    "n 9": chat(n=9), "seed 2**64": chat(seed=2**64), "top_logprobs 21": chat(logprobs=True, top_logprobs=21),
    "top_logprobs alone": chat(top_logprobs=2),
    "900 KB stop": chat(stop=["ab" * 450_000]), "unknown model": chat(model="other"),
}
RAW = [  # (method, path, body bytes or None, content type)
    ("POST", "/v1/completions", b"{not json", "application/json"),
    ("POST", "/v1/completions", b"[1, 2]", "application/json"),
    ("POST", "/v1/completions", b"", "application/json"),
    ("POST", "/v1/completions", b'{"model": "tiny", "prompt": "a", "temperature": NaN}', "application/json"),
    ("POST", "/v1/completions", b'{"model": "tiny", "prompt": "a", "top_p": Infinity}', "application/json"),
    ("POST", "/v1/completions", json.dumps(GOOD_COMPLETION).encode(), "text/plain"),
    ("POST", "/v1/completions", b"\xff\xfe\x00garbage", "application/json"),
    ("POST", "/v1/completions", b"x" * (1 << 21), "application/json"),
    ("GET", "/v1/completions", None, None),
    ("DELETE", "/v1/models", None, None),
    ("GET", "/v1/models/nope", None, None),
    ("GET", "/v1/nowhere", None, None),
    ("POST", "/v1/chat/completions", b"null", "application/json"),
    ("GET", "/api/runs/nope/metrics", None, None),
    ("GET", "/api/runs/..%2F..%2Fetc/metrics", None, None),
]
PLAYGROUND = {
    ("/api/tokenize", "empty text"): {"text": ""}, ("/api/tokenize", "no text"): {},
    ("/api/tokenize", "extra field"): {"text": "a", "colour": "red"},
    ("/api/tokenize", "unknown model"): {"text": "a", "model": "nope"},
    ("/api/tokenize", "text too long"): {"text": "a" * 100_001},
    ("/api/tokenize", "unencodable"): {"text": "日本"},
    ("/api/next-token", "temperature 0"): {"text": "KING", "temperature": 0},
    ("/api/next-token", "temperature 11"): {"text": "KING", "temperature": 11},
    ("/api/next-token", "top 0"): {"text": "KING", "top": 0}, ("/api/next-token", "top 201"): {"text": "KING", "top": 201},
    ("/api/next-token", "temperature string"): {"text": "KING", "temperature": "1"},
    ("/api/attention", "empty text"): {"text": ""}, ("/api/attention", "unencodable"): {"text": "日"},
    ("/api/embeddings/neighbours", "multi-token"): {"token": "KING"},
    ("/api/embeddings/neighbours", "id out of range"): {"token": 10_000},
    ("/api/embeddings/neighbours", "negative id"): {"token": -1},
    ("/api/embeddings/neighbours", "k 0"): {"token": "a", "k": 0},
    ("/api/embeddings/neighbours", "k 101"): {"token": "a", "k": 101},
    ("/api/embeddings/analogy", "missing c"): {"a": "a", "b": "b"},
    ("/api/embeddings/analogy", "bad token"): {"a": "a", "b": "b", "c": "xyz"},
    ("/api/embeddings/projection", "count 1"): {"count": 1},
    ("/api/embeddings/projection", "count string"): {"count": "9"},
    ("/api/trace", "empty text"): {"text": ""}, ("/api/trace", "temperature 0"): {"text": "KING", "temperature": 0},
    ("/api/trace", "temperature negative"): {"text": "KING", "temperature": -1.0},
    ("/api/temperatures", "temperature 0"): {"text": "KING", "temperatures": [0.1, 0, 2]},
    ("/api/temperatures", "seven temperatures"): {"text": "KING", "temperatures": [1.0] * 7},
    ("/api/greedy", "steps 0"): {"text": "KING", "steps": 0}, ("/api/greedy", "top 21"): {"text": "KING", "top": 21},
    ("/api/token-losses", "one character"): {"text": "K"}, ("/api/bpe", "merges 0"): {"text": "ab", "merges": 0},
    ("/api/bpe", "text too long"): {"text": "ab" * 1001}, ("/api/context-cost", "dtype"): {"dtype": "fp4"},
    ("/api/vectors/analogy", "none served"): {"a": "man", "b": "king", "c": "woman"},
}


@pytest.fixture(scope="module")
def server(tiny_run):
    with running_server(str(tiny_run), "--max-tokens", "64", "--threads", "1") as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client


def check_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["message"] and "\n" not in error["message"], error


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPLETIONS)
def test_completions(server, name):
    check_refused(server.post("/v1/completions", json=COMPLETIONS[name]))


@pytest.mark.slow
@pytest.mark.parametrize("name", CHATS)
def test_chat_completions(server, name):
    check_refused(server.post("/v1/chat/completions", json=CHATS[name]))


@pytest.mark.slow
@pytest.mark.parametrize("method, path, body, content_type", RAW)
def test_raw_requests(server, method, path, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    check_refused(server.request(method, path, content=body, headers=headers))


@pytest.mark.slow
@pytest.mark.parametrize("path, name", PLAYGROUND)
def test_playground_api(server, path, name):
    check_refused(server.post(path, json=PLAYGROUND[(path, name)]))


@pytest.mark.slow
def test_the_server_still_serves_after_the_corpus(server):
    """Runs after the cases above (same module, same server): good requests still work, nothing is stuck."""
    assert server.post("/v1/completions", json=GOOD_COMPLETION).status_code == 200
    streamed = server.post("/v1/chat/completions", json={**GOOD_CHAT, "stream": True})
    assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
    stats = server.get("/api/stats").json()  # a job is retired before its client hears it is over
    assert stats["failed"] == 0 and stats["active"] == 0 and stats["queued"] == 0


def test_corpus_size():
    assert len(COMPLETIONS) + len(CHATS) + len(RAW) + len(PLAYGROUND) >= 100

"""Load test for `lantern serve`: 16 concurrent clients x 50 requests on loopback, against the batching server
and against the same server decoding one request at a time (`--no-batching`), side by side in one run.

Each mode starts the real server in a subprocess and drives it with 16 asyncio clients (httpx), each sending 50
requests one after another: even requests are /v1/completions (whole JSON), odd ones streamed
/v1/chat/completions with usage, every one with its own seed. It reports errors (must be 0), p50/p95 latency
(request sent -> last byte), p50/p95 time to first streamed token, total completion tokens/s, and the server's
resident memory after each round of 10 requests per client (it must not grow round over round). The last line
gives batching / one-at-a-time for throughput and p95 latency.

With batching (the default), requests for one model join a decoding session between steps and share one
forward pass (continuous batching, generate/session.py); with `--no-batching` each decodes alone and the
model worker interleaves them token by token.

    .venv/bin/python benchmarks/serve_load.py                 # trains a small model (baby GPT shape) first
    .venv/bin/python benchmarks/serve_load.py --run runs/x    # or serve an existing run
    .venv/bin/python benchmarks/serve_load.py --threads 1     # the server on one PyTorch thread
    .venv/bin/python benchmarks/serve_load.py --run BASE --adapter a=A.safetensors --adapter b=B.safetensors
        # one base, many adapters, one batching server: the load on the base alone, then the same load with
        # client c asking for adapter c mod N (BASE:NAME); the last line gives adapters / base alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from serve_helpers import running_server  # noqa: E402

PROMPTS = ["ROMEO:", "First Citizen:\nBefore we proceed", "KING HENRY:", "To be, or not to be",
           "O, what a rogue", "JULIET:\nWherefore", "Now is the winter", "MENENIUS:"]


def small_run(out: Path) -> Path:
    """The baby GPT shape (4 layers, 4 heads, d=128, context 64) trained briefly: load, not quality, matters."""
    subprocess.run([sys.executable, "-m", "lanternlm", "train", "--preset", "shakespeare-char-cpu", "--out", str(out),
                    "--quiet", "--set", "train.max_iters=20", "--set", "train.eval_interval=20",
                    "--set", "train.eval_iters=2"], check=True)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_request(http: httpx.AsyncClient, model: str, i: int, max_tokens: int) -> tuple[float, float | None, int]:
    """(latency, time to first token or None, completion tokens); raises on any error."""
    prompt = PROMPTS[i % len(PROMPTS)]
    started = time.perf_counter()
    if i % 2 == 0:
        response = await http.post("/v1/completions", json={"model": model, "prompt": prompt,
                                                            "max_tokens": max_tokens, "seed": i})
        response.raise_for_status()
        return time.perf_counter() - started, None, response.json()["usage"]["completion_tokens"]
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": True, "stream_options": {"include_usage": True}, "seed": i}
    first, tokens, done = None, 0, False
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            event = json.loads(line[6:])
            if "error" in event:
                raise RuntimeError(event["error"]["message"])
            if first is None and event["choices"] and event["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
    if not done:
        raise RuntimeError("stream ended without [DONE]")
    return time.perf_counter() - started, first, tokens


async def load(url: str, models: list[str], clients: int, requests: int, rounds: int, max_tokens: int) -> dict:
    latencies, ttfts, rss = [], [], []
    tokens = errors = 0
    per_round = requests // rounds
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=clients)) as http:
        async def client(c: int, r: int) -> None:
            nonlocal tokens, errors
            for k in range(per_round):
                try:
                    latency, ttft, n = await one_request(http, models[c % len(models)], c * requests + r * per_round + k,
                                                         max_tokens)
                except Exception as exc:  # counted, and the first few shown: the run must have none
                    errors += 1
                    if errors <= 3:
                        print(f"  error: {exc!r}")
                    continue
                latencies.append(latency)
                tokens += n
                if ttft is not None:
                    ttfts.append(ttft)

        started = time.perf_counter()
        for r in range(rounds):
            await asyncio.gather(*(client(c, r) for c in range(clients)))
            rss.append((await http.get("/api/stats")).json()["rss_bytes"] / 2**20)
            print(f"  round {r + 1}/{rounds}: {len(latencies)} ok, {errors} errors, server RSS {rss[-1]:.1f} MiB")
        wall = time.perf_counter() - started
    return {"requests": clients * per_round * rounds, "errors": errors, "wall_s": wall, "tokens": tokens,
            "tokens_per_s": tokens / wall, "p50_ms": 1000 * percentile(latencies, 0.5),
            "p95_ms": 1000 * percentile(latencies, 0.95), "ttft_p50_ms": 1000 * percentile(ttfts, 0.5),
            "ttft_p95_ms": 1000 * percentile(ttfts, 0.95), "rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run directory to serve (default: train a small one)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, help="the server's PyTorch threads (lantern serve --threads)")
    parser.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH",
                        help="serve this adapter on the run too; the clients spread over the adapters (not the base)")
    args = parser.parse_args()
    threads = ["--threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or small_run(Path(tmp) / "small")
        adapters = [a for spec in args.adapter for a in ("--adapter", spec)]
        if args.adapter:  # one server; the base alone, then the clients spread over the adapters
            modes = [("base alone", [], lambda ids: ids[:1]),
                     (f"{len(args.adapter)} adapters", [], lambda ids: ids[1:])]
        else:
            modes = [("one at a time", ["--no-batching"], lambda ids: ids[:1]), ("batching", [], lambda ids: ids[:1])]
        results = {}
        for mode, flags, choose in modes:
            with running_server(str(run), *adapters, *threads, *flags) as url:
                models = choose([m["id"] for m in httpx.get(url + "/v1/models").json()["data"]])
                print(f"{mode}: {args.clients} clients x {args.requests} requests, max_tokens {args.max_tokens}, "
                      f"models {models}")
                result = results[mode] = asyncio.run(load(url, models, args.clients, args.requests, args.rounds,
                                                          args.max_tokens))
            print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()},
                             default=str))
            growth = result["rss_mib"][-1] - result["rss_mib"][0]
            print(f"{mode}: errors {result['errors']}; latency p50 {result['p50_ms']:.0f} ms, p95 "
                  f"{result['p95_ms']:.0f} ms; first token p50 {result['ttft_p50_ms']:.0f} ms, p95 "
                  f"{result['ttft_p95_ms']:.0f} ms; {result['tokens_per_s']:.0f} tokens/s; RSS after round 1 -> "
                  f"last: {growth:+.1f} MiB")
    (first, before), (second, after) = [(mode, results[mode]) for mode, _, _ in modes]
    print(f"{second} / {first}: throughput {after['tokens_per_s'] / before['tokens_per_s']:.2f}x, "
          f"p95 latency {after['p95_ms'] / before['p95_ms']:.2f}x, first-token p95 "
          f"{after['ttft_p95_ms'] / before['ttft_p95_ms']:.2f}x")

if __name__ == "__main__":
    main()

"""Generation speed: Lantern's Engine (KV cache) vs Hugging Face `generate`, same random GPT-2-small weights.

GPT-2-small shape (12 layers, 12 heads, d 768, vocab 50,257), fp32 on the CPU, greedy decoding, a 16-token
prompt and 128 new tokens. Reports for both: tokens/s (end to end and decode-only), time to first token,
batch-8 throughput, the cached-vs-uncached speed-up, and the speed of light of batch-1 decoding:
every new token must read all the weights once, so tokens/s <= memory bandwidth / weight bytes.

Ours and HF alternate in one process, best of --repeats, so a busy machine slows both alike.

    .venv/bin/python benchmarks/generate_hf.py [--repeats 3] [--new-tokens 128] [--skip-uncached]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch
import transformers

from lanternlm.generate import Engine, GenerationConfig
from lanternlm.interop.hf import load_hf_model
from lanternlm.tokenizers import BPETokenizer


def measure_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Read bandwidth in bytes/s: summing a tensor far larger than the caches streams it from memory once."""
    x = torch.ones(megabytes * 2**20 // 4)
    x.sum()
    best = min(_timed(x.sum)[1] for _ in range(repeats))
    return x.nbytes / best


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def hf_generate(model, prompt: torch.Tensor, new_tokens: int, use_cache: bool = True) -> torch.Tensor:
    return model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                          do_sample=False, use_cache=use_cache, pad_token_id=0)


def ours_generate(engine: Engine, prompt: torch.Tensor, new_tokens: int, use_cache: bool = True) -> list[list[int]]:
    config = GenerationConfig(max_new_tokens=new_tokens, temperature=0, stop_tokens=(), use_cache=use_cache)
    rows = [[] for _ in range(prompt.size(0))]
    for step in engine.steps(prompt.tolist(), config):
        for row, token in zip(rows, step.ids.tolist()):
            row.append(token)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--skip-uncached", action="store_true")
    args = parser.parse_args()
    N = args.new_tokens

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=1024,
                                                              vocab_size=50257)).eval()
    hf.generation_config.eos_token_id = None  # both sides generate exactly N tokens
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        _, ours = load_hf_model(tmp)
    engine = Engine(ours, BPETokenizer([]))  # ids in, ids out: the tokenizer is not used
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    batch = torch.randint(0, 50257, (args.batch, args.prompt_tokens), generator=torch.Generator().manual_seed(2))
    weight_bytes = sum(p.numel() * p.element_size() for p in ours.parameters())
    bandwidth = measure_bandwidth()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"weights {weight_bytes / 1e6:.0f} MB fp32; measured read bandwidth {bandwidth / 1e9:.1f} GB/s; "
          f"speed of light (batch 1) = {bandwidth / weight_bytes:.1f} tokens/s")

    with torch.no_grad():
        hf_ids = hf_generate(hf, prompt, N)[0, args.prompt_tokens:].tolist()
        our_ids = ours_generate(engine, prompt, N)[0]
        print(f"greedy tokens identical: {hf_ids == our_ids} ({N} tokens)")
        best = {}
        for _ in range(args.repeats):  # alternate, keep the best of each
            for name, fn in [("ours", lambda: ours_generate(engine, prompt, N)),
                             ("hf", lambda: hf_generate(hf, prompt, N)),
                             ("ours_ttft", lambda: ours_generate(engine, prompt, 1)),
                             ("hf_ttft", lambda: hf_generate(hf, prompt, 1)),
                             ("ours_b", lambda: ours_generate(engine, batch, N)),
                             ("hf_b", lambda: hf_generate(hf, batch, N))]:
                best[name] = min(best.get(name, float("inf")), _timed(fn)[1])
        if not args.skip_uncached:
            best["ours_nocache"] = _timed(lambda: ours_generate(engine, prompt, N, use_cache=False))[1]
            best["hf_nocache"] = _timed(lambda: hf_generate(hf, prompt, N, use_cache=False))[1]

    def row(label, ours_s, hf_s, tokens):
        print(f"{label:<34} ours {tokens / ours_s:8.1f} tok/s   HF {tokens / hf_s:8.1f} tok/s   "
              f"ratio {hf_s / ours_s:5.2f}x")

    print(f"\nbatch 1, {args.prompt_tokens}-token prompt, {N} new tokens, best of {args.repeats}:")
    row("end to end (new tokens / wall time)", best["ours"], best["hf"], N)
    row("decode only (after the first token)", best["ours"] - best["ours_ttft"], best["hf"] - best["hf_ttft"], N - 1)
    print(f"{'time to first token':<34} ours {1000 * best['ours_ttft']:8.1f} ms      "
          f"HF {1000 * best['hf_ttft']:8.1f} ms")
    row(f"batch {args.batch} throughput", best["ours_b"], best["hf_b"], args.batch * N)
    print(f"speed of light (batch 1): {bandwidth / weight_bytes:.1f} tokens/s; ours reaches "
          f"{100 * N / best['ours'] / (bandwidth / weight_bytes):.0f}% of it end to end")
    if not args.skip_uncached:
        row("without KV cache", best["ours_nocache"], best["hf_nocache"], N)
        print(f"KV cache speed-up: ours {best['ours_nocache'] / best['ours']:.1f}x, "
              f"HF {best['hf_nocache'] / best['hf']:.1f}x")


if __name__ == "__main__":
    main()

"""Where the time of one generated token goes: one decoding step of the GPT-2-small shape, profiled.

A step feeds one new token over the KV cache (batch 1, position ~150 of 1,024) through the model; the report
splits its time into the fixed cost of a step (Python, module calls, operator dispatch: measured as the wall time
of the same 12-layer graph at a tiny width, where the arithmetic is negligible) and, in proportion to what the
profiler sees, the work that grows with the model: the weight products (the Linear layers and the LM head: the
part that must read every weight), attention over the cache, norms, activations, cache writes, embeddings and
the other tensor operations. A last line adds the engine's own work per token (sampling, stop checks,
bookkeeping): `Engine.generate` per new token minus the bare model step. Weight bytes / the measured read bandwidth gives the
step's speed of light.

Run it on two checkouts to see a change (the script uses only what every version has):

    .venv/bin/python benchmarks/decode_profile.py [--threads 2] [--int8]
    PYTHONPATH=/path/to/older/checkout/src .venv/bin/python benchmarks/decode_profile.py
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import profile

import lanternlm
from lanternlm.config import ModelConfig
from lanternlm.generate import Engine
from lanternlm.models import build_model
from lanternlm.tokenizers import CharTokenizer

CATEGORIES = [  # (name, substrings of the operator names it holds), first match wins
    ("weight products", ("addmm", "aten::mm", "bmm", "linear", "matmul", "aten::mv")),
    ("attention", ("scaled_dot_product", "softmax")),
    ("norms", ("layer_norm", "rms_norm")),
    ("activations", ("gelu", "silu", "relu")),
    ("cache writes", ("copy_", "index_put", "fill_")),
    ("embeddings", ("embedding", "index_select")),
]


def category(op: str) -> str:
    return next((name for name, keys in CATEGORIES if any(key in op for key in keys)), "other operations")


def new_cache(model: torch.nn.Module):
    if hasattr(model, "new_cache"):
        return model.new_cache(1)
    from lanternlm.nn.kv_cache import KVCache  # older checkouts build the cache themselves
    c = model.config
    return KVCache(c.n_layer, 1, c.n_kv_head or c.n_head, c.block_size, c.n_embd // c.n_head)


@torch.no_grad()
def step_profile(model: torch.nn.Module, steps: int, profiled: bool = True) -> tuple[float, dict[str, float]]:
    """(wall ms of one step without the profiler, {category: ms of one step inside operations})."""
    cache = new_cache(model)
    model(torch.randint(0, model.config.vocab_size, (1, 150)), kv_cache=cache, start_pos=0)
    token = torch.tensor([[5]])

    def run(first: int) -> None:
        for p in range(first, first + steps):
            model(token, kv_cache=cache, start_pos=p, last_logits_only=True)

    run(150)  # warm-up writes positions 150.. (overwritten below)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run(150)
        best = min(best, (time.perf_counter() - started) / steps)
    if not profiled:
        return best * 1000, {}
    with profile() as prof:
        run(150)
    spent = defaultdict(float)
    for event in prof.key_averages():
        spent[category(event.key)] += event.self_cpu_time_total / 1000 / steps
    return best * 1000, dict(spent)


def gpt2_shape(width: int = 768, vocab: int = 50257) -> torch.nn.Module:
    return build_model(ModelConfig(vocab_size=vocab, block_size=1024, n_layer=12, n_head=12, n_embd=width)).eval()


def engine_ms_per_token(model: torch.nn.Module, tokens: int) -> float:
    """Per new token, the prompt's prefill taken out: (time for 1 + tokens) - (time for 1), over `tokens`."""
    engine = Engine(model, CharTokenizer([chr(0x100 + i) for i in range(model.config.vocab_size)]))
    prompt = "".join(chr(0x100 + i) for i in range(150))

    def timed(n: int) -> float:
        started = time.perf_counter()
        engine.generate(prompt, max_new_tokens=n, temperature=0)
        return time.perf_counter() - started

    timed(2)
    return min(timed(1 + tokens) - timed(1) for _ in range(2)) / tokens * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--int8", action="store_true", help="int8 Linear layers (nn/quantized.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, tiny = gpt2_shape(), gpt2_shape(width=48, vocab=64)
    if args.int8:
        from lanternlm.nn.quantized import quantize_linears
        quantize_linears(model)
        quantize_linears(tiny)
    wall, spent = step_profile(model, args.steps)
    fixed = min(step_profile(tiny, args.steps, profiled=False)[0], wall)
    inside = sum(spent.values())
    print(f"lanternlm at {lanternlm.__file__.rsplit('/src/', 1)[0]}; {args.threads} threads, "
          f"{'int8' if args.int8 else 'fp32'}; one decoding step (batch 1, position ~150): {wall:.2f} ms")
    print(f"{'where the time goes':<32}{'ms':>8}{'share':>8}")
    print(f"{'fixed cost (Python, dispatch)':<32}{fixed:>8.2f}{fixed / wall:>8.0%}")
    scale = (wall - fixed) / inside  # the rest of the step, shared out as the profiler saw it
    for name, ms in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{name:<32}{ms * scale:>8.2f}{ms * scale / wall:>8.0%}")
    per_token = engine_ms_per_token(model, args.steps * 2)
    print(f"engine per token {per_token:.2f} ms = model step + {per_token - wall:.2f} ms of sampling and bookkeeping")


if __name__ == "__main__":
    main()

"""Generation speed, side by side in one run: Lantern's engine (fp32 and int8 weights), Hugging Face `generate`
and CTranslate2 (fp32 and int8) on the same random GPT-2-small weights.

GPT-2-small shape (12 layers, 12 heads, d 768, vocab 50,257), CPU, greedy decoding, a 16-token prompt and 128
new tokens, batch 1 and batch 8. Every engine generates exactly the same number of tokens (no early stop).
For each: tokens/s end to end, time to first token, batch throughput, and the speed of light of batch-1
decoding in its precision: every new token must read all the weights once, so tokens/s <= memory bandwidth /
weight bytes (fp32: 4 bytes a weight; int8: 1 byte for the Linear matrices, 4 for the embedding tables).

The engines alternate, best of --repeats, so a busy machine slows all of them alike. CTranslate2 is a
benchmark-only anchor (`pip install ctranslate2`; without it its rows are skipped); it runs in a child process
of the same run, called in turn with the others, because its own OpenMP runtime slows PyTorch's threads in a
shared process (Lantern and HF by a third on the Xeon box: RESULTS.md).

    .venv/bin/python benchmarks/generate_hf.py [--repeats 3] [--new-tokens 128] [--batch 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers

from lanternlm.generate import Engine, GenerationConfig
from lanternlm.interop.hf import load_hf_model
from lanternlm.nn.quantized import Int8Linear, quantize_linears
from lanternlm.tokenizers import BPETokenizer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tokenizers"


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


def hf_generate(model, prompt: torch.Tensor, new_tokens: int) -> list[list[int]]:
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                         do_sample=False, pad_token_id=0)
    return out[:, prompt.size(1):].tolist()


def ours_generate(engine: Engine, prompt: torch.Tensor, new_tokens: int) -> list[list[int]]:
    config = GenerationConfig(max_new_tokens=new_tokens, temperature=0, stop_tokens=())
    rows = [[] for _ in range(prompt.size(0))]
    for step in engine.steps(prompt.tolist(), config):
        for row, token in zip(rows, step.ids.tolist()):
            row.append(token)
    return rows


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes one decoding step reads: every Linear matrix (int8 or fp32) plus the LM head; not the token
    embedding lookup (one row a token), nor position tables."""
    total = 0
    for module in model.modules():
        if isinstance(module, Int8Linear):
            total += module.weight_int8.numel() + 4 * module.weight_scale.numel()
        elif isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
    return total


def ctranslate2_worker(conn, hf_dir: str, out_dir: str, threads: int) -> None:
    """Child process: convert the weights for CTranslate2 (fp32 and int8), then answer (name, prompt rows, n)
    with (ids, seconds) until the parent closes the pipe. Its own process because CTranslate2 ships its own OpenMP runtime, whose
    threads in the same process as PyTorch's slow every PyTorch engine by a third (measured)."""
    try:
        import ctranslate2
    except ImportError:
        conn.send(None)
        return
    tokenizer = transformers.GPT2Tokenizer(str(SHARED / "gpt2_encoder.json"), str(SHARED / "gpt2_vocab.bpe"))
    tokenizer.save_pretrained(hf_dir)
    generators = {}
    for name, quantization in (("ct2 fp32", None), ("ct2 int8", "int8")):
        target = Path(out_dir) / name.replace(" ", "-")
        ctranslate2.converters.TransformersConverter(hf_dir).convert(str(target), quantization=quantization)
        generators[name] = ctranslate2.Generator(str(target), device="cpu", compute_type=quantization or "float32",
                                                 intra_threads=threads)
    conn.send(list(generators))
    while True:
        try:
            name, rows, new_tokens = conn.recv()
        except EOFError:  # the benchmark is over
            return
        tokens = [tokenizer.convert_ids_to_tokens(row) for row in rows]
        started = time.perf_counter()
        results = generators[name].generate_batch(tokens, max_length=new_tokens, min_length=new_tokens,
                                                   sampling_topk=1, include_prompt_in_result=False)
        conn.send(([result.sequences_ids[0] for result in results], time.perf_counter() - started))


def ctranslate2_generators(hf_dir: str, out_dir: Path, threads: int) -> dict:
    """{"ct2 fp32": generate(prompt, n) -> (ids, seconds), "ct2 int8": ...}, served by `ctranslate2_worker`."""
    import multiprocessing

    here, there = multiprocessing.get_context("spawn").Pipe()
    worker = multiprocessing.get_context("spawn").Process(target=ctranslate2_worker, daemon=True,
                                                          args=(there, hf_dir, str(out_dir), threads))
    worker.start()
    names = here.recv()
    if names is None:
        print("ctranslate2 is not installed: its rows are skipped (pip install ctranslate2)")
        return {}

    def engine(name: str):
        def generate(prompt: torch.Tensor, new_tokens: int) -> tuple[list[list[int]], float]:
            here.send((name, prompt.tolist(), new_tokens))
            return here.recv()
        return generate

    return {name: engine(name) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    N = args.new_tokens

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=1024,
                                                              vocab_size=50257)).eval()
    hf.generation_config.eos_token_id = None  # every engine generates exactly N tokens
    work = tempfile.TemporaryDirectory()
    hf_dir = str(Path(work.name) / "hf")
    hf.save_pretrained(hf_dir)
    _, ours = load_hf_model(hf_dir)
    ours_int8 = quantize_linears(copy.deepcopy(ours))
    engines = {"lantern fp32": lambda p, n: _timed(lambda: ours_generate(Engine(ours, BPETokenizer([])), p, n)),
               "lantern int8": lambda p, n: _timed(lambda: ours_generate(Engine(ours_int8, BPETokenizer([])), p, n)),
               "hf fp32": lambda p, n: _timed(lambda: hf_generate(hf, p, n))}  # each -> (ids, seconds)
    engines.update(ctranslate2_generators(hf_dir, Path(work.name), args.threads))
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    batch = torch.randint(0, 50257, (args.batch, args.prompt_tokens), generator=torch.Generator().manual_seed(2))
    bandwidth = measure_bandwidth()
    fp32_bytes, int8_bytes = weight_bytes(ours), weight_bytes(ours_int8)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.machine()) if Path("/proc/cpuinfo").exists() else platform.machine()
    print(f"machine: {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"transformers {transformers.__version__}; read bandwidth {bandwidth / 1e9:.1f} GB/s")
    light = {"fp32": bandwidth / fp32_bytes, "int8": bandwidth / int8_bytes}
    print(f"weights read per token: fp32 {fp32_bytes / 1e6:.0f} MB, int8 {int8_bytes / 1e6:.0f} MB -> speed of light "
          f"(batch 1) fp32 {light['fp32']:.1f}, int8 {light['int8']:.1f} tokens/s")

    with torch.no_grad():
        reference = engines["hf fp32"](prompt, N)[0][0]
        for name, generate in engines.items():
            got = generate(prompt, N)[0][0]
            same = sum(a == b for a, b in zip(got, reference))
            print(f"{name:<13} greedy tokens equal to HF's: {same}/{N}" + ("" if len(got) == N else f" (got {len(got)})"))
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.repeats):  # alternate, keep the best of each
            for name, generate in engines.items():
                for case, fn in (("b1", lambda: generate(prompt, N)), ("ttft", lambda: generate(prompt, 1)),
                                 (f"b{args.batch}", lambda: generate(batch, N))):
                    best[name, case] = min(best.get((name, case), float("inf")), fn()[1])

    hf_b1, hf_bb = N / best["hf fp32", "b1"], args.batch * N / best["hf fp32", f"b{args.batch}"]
    print(f"\n{args.prompt_tokens}-token prompt, {N} new tokens, best of {args.repeats}:")
    print(f"{'engine':<13} {'batch 1 tok/s':>14} {'x HF':>6} {'% of light':>10} {'TTFT ms':>8} "
          f"{f'batch {args.batch} tok/s':>14} {'x HF':>6}")
    figures = {}
    for name in engines:
        b1 = N / best[name, "b1"]
        bb = args.batch * N / best[name, f"b{args.batch}"]
        precision = name.split()[-1]
        figures[name] = {"batch1_tokens_per_s": b1, "batch_tokens_per_s": bb, "ttft_ms": 1000 * best[name, "ttft"],
                         "x_hf_batch1": b1 / hf_b1, "x_hf_batch": bb / hf_bb, "speed_of_light_share": b1 / light[precision]}
        print(f"{name:<13} {b1:14.1f} {b1 / hf_b1:6.2f} {100 * b1 / light[precision]:9.0f}% "
              f"{1000 * best[name, 'ttft']:8.1f} {bb:14.1f} {bb / hf_bb:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": cpu, "threads": torch.get_num_threads(), "new_tokens": N,
                                         "batch": args.batch, "bandwidth_gb_s": bandwidth / 1e9,
                                         "speed_of_light": light, "engines": figures}, indent=1))
    work.cleanup()


if __name__ == "__main__":
    main()

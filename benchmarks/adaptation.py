"""One task, every way: rt_polarity sentiment with a Lantern GPT and with all-MiniLM-L6-v2, adapted by prompt
design (zero-shot, 4-shot), prompt tuning (soft prompt), a head alone, LoRA and full fine-tuning, beside the
classical TF-IDF + logistic regression baseline.

The 8,530 labelled snippets are split once (seed 1234) into 80 % training and 20 % held-out test; every
method sees only the training part (fine-tuning runs hold out their own validation share of it for early
stopping) and is scored on the same test part. Fine-tuning goes through `lantern finetune` (the one
trainer). The speed of full vs LoRA vs soft-prompt training on MiniLM is measured side by side in this process
(round-robin over identical batches, so load from other processes hits all three), beside each run's own
tokens/s. Writes OUT/results.json, OUT/adaptation.md (the table) and benchmarks/adaptation.png.

    python benchmarks/adaptation.py --gpt runs/tinystories --minilm runs/minilm --out runs/adaptation
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lanternlm.data.labelled import LabelledExamples, read_examples  # noqa: E402
from lanternlm.finetune import classify_config, finetune  # noqa: E402
from lanternlm.io import atomic_path, write_text_atomic  # noqa: E402
from lanternlm.finetune.fewshot import evaluate_fewshot, load_template  # noqa: E402
from lanternlm.models.adapted import adapt_model, trainable_parameters  # noqa: E402
from lanternlm.runs import RunPaths, load_run  # noqa: E402
from lanternlm.train.metrics import read_metrics  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "sentiment" / "rt_polarity_train.jsonl"
METHODS = ("head", "full", "lora", "prompt")  # the cheapest and the quality goal's rows first
# per base: (epochs, learning rate) of each method, and the LoRA shape (< 2 % of the parameters trainable).
# Budgets fit a shared, loaded 2-core CPU (one epoch is 192 steps of 32): a quarter of an epoch for the GPT,
# 25 steps (800 examples) for MiniLM, whose validation share shrinks to 3 % (scoring costs as much as training).
PLANS = {
    "gpt": {"prompt": (0.25, 3e-2), "head": (0.25, 1e-2), "lora": (0.25, 3e-3), "full": (0.25, 5e-4),
            "lora_args": ["lora_rank=8", "lora_alpha=16", "lora_targets=q,v"], "extra": []},
    "minilm": {"prompt": (0.13, 3e-2), "head": (0.13, 1e-2), "lora": (0.13, 3e-3), "full": (0.13, 1e-4),
               "lora_args": ["lora_rank=8", "lora_alpha=16", "lora_targets=all"], "extra": ["val_fraction=0.03"]},
}


def split(out: Path) -> tuple[Path, list, list]:
    examples = read_examples(DATA)
    order = np.random.default_rng(1234).permutation(len(examples))
    cut = int(0.8 * len(examples))
    train, test = [examples[i] for i in order[:cut]], [examples[i] for i in order[cut:]]
    path = out / "rt_train.jsonl"
    write_text_atomic(path, "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in train))
    return path, train, test


def tfidf_baseline(train, test) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform([t for t, _ in train])
    model = LogisticRegression(C=4.0, max_iter=2000).fit(features, [label for _, label in train])
    seconds = time.perf_counter() - started
    predicted = model.predict(vectorizer.transform([t for t, _ in test]))
    accuracy = float(np.mean(predicted == np.array([label for _, label in test])))
    return {"base": "—", "method": "TF-IDF + logistic regression", "accuracy": accuracy,
            "trainable": int(model.coef_.size + model.intercept_.size), "share": None, "bytes": None,
            "seconds": seconds, "tokens_per_sec": None}


def fewshot_rows(name: str, run: Path, train, test) -> list[dict]:
    loaded = load_run(run)
    rows = []
    for result in evaluate_fewshot(loaded.model, loaded.tokenizer, ["0", "1"], train, test, [0, 4],
                                   load_template("sentiment")):
        rows.append({"base": name, "method": f"{result.shots}-shot prompt", "accuracy": result.accuracy,
                     "trainable": 0, "share": 0.0, "bytes": None, "seconds": 0.0, "tokens_per_sec": None,
                     "truncated": result.truncated})
    return rows


def finetune_row(name: str, run: Path, method: str, data: Path, test, out: Path, epochs: float = 0) -> dict:
    """Fine-tune `run` by `method` (PLANS[name]; `epochs` > 0 replaces the plan's budget) and score the test."""
    planned, lr = PLANS[name][method]
    epochs = epochs or planned
    extra = PLANS[name]["extra"] + (PLANS[name]["lora_args"] if method == "lora" else [])
    config = classify_config(run, data, method, epochs=epochs, batch_size=32, learning_rate=lr,
                             overrides=["max_length=64", *extra])
    started = time.perf_counter()
    result = finetune(config, out / f"{name}-{method}", overwrite=True, quiet=True)
    seconds = time.perf_counter() - started
    loaded = load_run(result.run_dir)
    examples = LabelledExamples.from_examples(test, loaded.tokenizer, ["0", "1"], 64, "test")
    scores = examples.scores(loaded.model, torch.device("cpu"))
    size = result.adapter_bytes or RunPaths(result.run_dir).weights.stat().st_size
    speeds = [r["summary"]["tokens_per_sec"] for r in read_metrics(RunPaths(result.run_dir).metrics) if "summary" in r]
    return {"base": name, "method": method, "accuracy": scores["accuracy"], "f1": scores["f1"],
            "trainable": result.trainable, "share": 100 * result.trainable / result.total, "bytes": size,
            "seconds": seconds, "tokens_per_sec": speeds[-1] if speeds else None, "steps": result.steps,
            "best_step": result.best_step, "val_accuracy": result.best.get("val_accuracy"), "test_examples": len(test)}


def measure_speed(run: Path, data: Path, steps: int = 8, warmup: int = 2, batch_size: int = 32) -> dict[str, float]:
    """Training tokens/s of full, LoRA and soft-prompt on the same batches, round-robin in this process, on one
    thread: timed by the CPU time the step used (what the method costs; a loaded machine stretches the wall
    time, not that) and by the wall clock."""
    from lanternlm.train.trainer import configure_optimizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    models, optimizers = {}, {}
    for method in ("full", "lora", "prompt"):
        config = classify_config(run, data, method, overrides=PLANS["minilm"]["lora_args"])
        loaded = load_run(run)
        torch.manual_seed(0)
        model = adapt_model(loaded.model, config.finetune).train()
        models[method], optimizers[method] = model, configure_optimizer(model, config, torch.device("cpu"))
    tokenizer = load_run(run).tokenizer
    batch = LabelledExamples.from_examples(read_examples(data)[:batch_size * (steps + warmup)], tokenizer, ["0", "1"],
                                           64)
    cpu: dict[str, list[float]] = {m: [] for m in models}
    wall: dict[str, list[float]] = {m: [] for m in models}
    tokens = {m: [] for m in models}
    for step in range(steps + warmup):
        inputs = batch.inputs_at(torch.arange(batch_size * step, batch_size * (step + 1)))
        for method, model in models.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            model(**inputs).loss.backward()
            optimizers[method].step()
            optimizers[method].zero_grad(set_to_none=True)
            if step >= warmup:
                cpu[method].append(time.thread_time() - started_cpu)
                wall[method].append(time.perf_counter() - started)
                tokens[method].append(int(inputs["attention_mask"].sum()))
    torch.set_num_threads(threads)
    return {m: sum(tokens[m]) / sum(cpu[m]) for m in models} | {
        f"{m}_cpu_ms_per_step": 1000 * statistics.median(cpu[m]) for m in models} | {
        f"{m}_wall_ms_per_step": 1000 * statistics.median(wall[m]) for m in models} | {
        f"{m}_trainable": trainable_parameters(models[m]) for m in models} | {"batch_size": batch_size, "steps": steps}


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    def short(row: dict) -> str:
        method = row["method"].replace("TF-IDF + logistic regression", "TF-IDF + LR").replace(" prompt", "")
        return f"{row['base']}\n{method.replace(' (first ', chr(10) + '(first ')}".lstrip("—\n")

    labels = [short(r) for r in rows]
    colors = {"gpt": "tab:blue", "minilm": "tab:orange", "—": "tab:gray"}
    bars = ax.bar(range(len(rows)), [100 * r["accuracy"] for r in rows], color=[colors[r["base"]] for r in rows])
    for bar, row in zip(bars, rows):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.5, f"{row['trainable']:,}\ntrainable",
                ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(rows)), labels, fontsize=7, rotation=0)
    ax.axhline(50, color="black", lw=0.5, ls=":")
    ax.set_ylim(40, 100)
    ax.set_ylabel("accuracy on held-out rt_polarity (%)")
    ax.set_title("One task, every way: accuracy (bars) and trainable parameters (labels)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    lines = ["| base | method | accuracy | test examples | trainable parameters | % of model | adapter file | "
             "training time | train tokens/s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        share = "–" if r["share"] is None else f"{r['share']:.2f} %"
        size = "–" if r["bytes"] is None else f"{r['bytes'] / 1024:,.0f} KiB"
        speed = "–" if r["tokens_per_sec"] is None else f"{r['tokens_per_sec']:,.0f}"
        lines.append(f"| {r['base']} | {r['method']} | {100 * r['accuracy']:.1f} % | "
                     f"{r.get('test_examples', 1706):,} | {r['trainable']:,} | {share} | "
                     f"{size} | {r['seconds']:.0f} s | {speed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpt", type=Path, required=True, help="a pretrained Lantern GPT run")
    parser.add_argument("--minilm", type=Path, required=True, help="MiniLM converted with lantern convert from-hf")
    parser.add_argument("--out", type=Path, default=Path("runs/adaptation"))
    parser.add_argument("--only", default="", help="comma-separated base:method pairs to run (default: all)")
    parser.add_argument("--bases", default="gpt,minilm", help="which bases to adapt in this process (two "
                        "processes may share one --out: rows are appended to results.json as they finish)")
    parser.add_argument("--test-size", type=int, default=0, help="score fine-tuned rows on the first N held-out "
                        "examples only (0: all 1,706); TF-IDF is then scored on both")
    parser.add_argument("--speed-steps", type=int, default=8, help="timed steps per method in the speed test")
    parser.add_argument("--speed-batch", type=int, default=32, help="examples per step in the speed test")
    parser.add_argument("--epochs", type=float, default=0, help="passes over the training part for every "
                        "fine-tuning row (0: each plan's budget, sized for a shared machine)")
    parser.add_argument("--no-speed", action="store_true", help="skip the side-by-side speed test (reuse "
                        "OUT/speed.json if there is one)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load = [os.getloadavg()[0]]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load[0]:.2f}", flush=True)
    data, train, test = split(args.out)
    results_file = args.out / "results.json"

    def recorded() -> list[dict]:
        return json.loads(results_file.read_text()) if results_file.is_file() else []

    done = {(r["base"], r["method"]) for r in recorded()}

    def add(row: dict) -> None:
        rows = recorded() + [row]  # re-read: another process may have added rows meanwhile
        with atomic_path(results_file) as tmp:
            Path(tmp).write_text(json.dumps(rows, indent=1))
        print(f"  {row['base']:7} {row['method']:30} accuracy {100 * row['accuracy']:.1f} %, "
              f"{row['trainable']:,} trainable, {row['seconds']:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)

    if ("—", "TF-IDF + logistic regression") not in done:
        add(tfidf_baseline(train, test))
    if args.test_size:
        test_all, test = test, test[:args.test_size]
        subset = f"TF-IDF + logistic regression (first {len(test)} test)"
        if ("—", subset) not in done:
            add(tfidf_baseline(train, test) | {"method": subset, "test_examples": len(test)})
    for name, run in (("gpt", args.gpt), ("minilm", args.minilm)):
        if name not in args.bases.split(","):
            continue
        if (name, "0-shot prompt") not in done:
            for row in fewshot_rows(name, run, train, test_all if args.test_size else test):
                add(row)
        for method in METHODS:
            if (name, method) not in done and (not args.only or f"{name}:{method}" in args.only.split(",")):
                add(finetune_row(name, run, method, data, test, args.out, args.epochs))
    load.append(os.getloadavg()[0])
    speed_file = args.out / "speed.json"
    if args.no_speed:
        speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    else:
        speed = measure_speed(args.minilm, data, args.speed_steps, min(2, args.speed_steps), args.speed_batch)
        speed_file.write_text(json.dumps(speed, indent=1))
    if speed:
        print("side-by-side MiniLM training speed, one thread (tokens per CPU-second): " + ", ".join(
            f"{m} {speed[m]:,.0f} ({speed[m + '_cpu_ms_per_step']:.0f} CPU ms/step, "
            f"{speed[m + '_wall_ms_per_step']:.0f} wall ms/step, {speed[m + '_trainable']:,} trainable)"
            for m in ("full", "lora", "prompt")), flush=True)
    rows = list({(r["base"], r["method"]): r for r in recorded()}.values())  # two processes may both add a row
    order = {"—": 0, "gpt": 1, "minilm": 2}
    rows.sort(key=lambda r: (order[r["base"]], r["trainable"]))
    chart(rows, ROOT / "benchmarks" / "adaptation.png")
    (args.out / "adaptation.md").write_text(table(rows) + "\n")
    print(table(rows))
    print(f"wall time {(time.time() - started) / 60:.1f} min, load average {load[0]:.2f} at start, "
          f"{load[-1]:.2f} before the speed test, {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()

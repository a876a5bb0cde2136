"""Fine-tuning runs: a base run, a task and a method in; a run folder (and an adapter file) out.

`classify_config` / `lm_config` build the run's one config: the base's model shape, the task's data, the
method's defaults (learning rates that suit it: the fewer the trainable parameters, the larger the steps they
take), then any --set overrides. `finetune` trains it with the same `train()` as pretraining (checkpoints,
exact resume, metrics, plots, torchrun), then puts the best checkpoint's weights in model.safetensors and
writes the adapter alone (`adapter.safetensors`). `merge_adapter` folds a LoRA adapter into its base's
weights and writes a plain run.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import FinetuneConfig, RunConfig, apply_overrides
from ..data.chat import read_conversations, read_preferences
from ..data.labelled import label_names, read_examples, split_examples
from ..errors import LanternError
from ..io import atomic_directory, atomic_path, check_writable, write_text_atomic
from ..models.adapted import trainable_parameters, weights_fingerprint
from ..models.lora import merge_lora, plain_linears
from ..runs import RunPaths, load_run, load_run_config, save_weights
from ..train import train
from ..train.checkpoint import best_checkpoint
from ..train.metrics import read_metrics
from .adapters import FILE_NAME, load_adapter, read_adapter, save_adapter

# Learning rates per method: full fine-tuning moves pretrained weights a little; a fresh head, LoRA factors or a
# soft prompt start from nothing useful and need larger steps (prompt tuning papers use 0.3 with Adafactor).
CLASSIFY_LR = {"full": 5e-5, "head": 2e-3, "lora": 1e-3, "prompt": 1e-2}
LM_LR = {"full": 3e-4, "lora": 1e-3, "prompt": 1e-2}
DPO_LR = 5e-4  # DPO moves a policy away from its own reference: smaller steps than SFT's
EVALS_PER_EPOCH = 2


@dataclass
class FinetuneResult:
    run_dir: Path
    steps: int
    best_step: int | None
    best: dict  # the best evaluation's record (val_loss, and for a classifier val_accuracy, val_f1, confusion)
    trainable: int  # parameters that trained
    total: int  # parameters of the whole model (base + what the method added)
    adapter_bytes: int | None  # size of adapter.safetensors (None: full fine-tuning has no adapter)
    tokens_per_sec: float | None


def base_config(base: str | Path) -> RunConfig:
    """The base run's config, refused if it is not a plain model (a base must be loadable without adapters)."""
    config = load_run_config(base)
    if config.finetune.task == "classify" or config.finetune.method != "full":
        raise LanternError(f"{base} is itself an adapted run ({config.finetune.task}, {config.finetune.method}); "
                           "start from a plain run (`lantern finetune merge` makes one from a LoRA adapter)")
    return config


def _new_config(base: str | Path, finetune: FinetuneConfig, inputs: list[str]) -> RunConfig:
    config = RunConfig()
    config.model = base_config(base).model
    config.data.input = inputs
    config.finetune = finetune
    config.train.init_from = str(Path(base).resolve())
    return config


def classify_config(base: str | Path, data: str | Path, method: str = "full", epochs: float = 3.0,
                    batch_size: int = 32, learning_rate: float | None = None, overrides: list[str] | None = None,
                    **finetune_fields) -> RunConfig:
    """A classification run on the JSONL file `data`: its labels read from the file, max_iters from `epochs`,
    two evaluations per epoch, early stopping after three without a better validation accuracy."""
    finetune = FinetuneConfig(task="classify", method=method, **finetune_fields)
    finetune.validate()  # before the file is read
    config = _new_config(base, finetune, [str(data)])
    examples = read_examples(data, finetune.text_field, finetune.label_field)
    finetune.labels = label_names(examples, data)
    n_train = len(split_examples(examples, config.data.val_fraction)[0])
    steps_per_epoch = math.ceil(n_train / batch_size)
    tc = config.train
    tc.batch_size, tc.learning_rate = batch_size, learning_rate or CLASSIFY_LR[method]
    tc.max_iters = max(1, round(epochs * steps_per_epoch))
    tc.eval_interval = tc.checkpoint_interval = max(1, min(tc.max_iters, steps_per_epoch // EVALS_PER_EPOCH))
    tc.warmup_iters = tc.max_iters // 16
    tc.min_lr, tc.weight_decay, tc.eval_iters, tc.log_interval = tc.learning_rate / 10, 0.01, 5, 10
    tc.best_metric, tc.early_stopping = "val_accuracy", 3
    return apply_overrides(config, overrides or []).validate()


def lm_config(base: str | Path, inputs: list[str | Path], method: str = "lora", steps: int = 200,
              learning_rate: float | None = None, overrides: list[str] | None = None,
              **finetune_fields) -> RunConfig:
    """Next-token fine-tuning of a decoder run on new text (tokenized with the base's tokenizer)."""
    finetune = FinetuneConfig(task="lm", method=method, **finetune_fields)
    finetune.validate()
    config = _new_config(base, finetune, [str(p) for p in inputs])
    tc = config.train
    tc.max_iters, tc.learning_rate = steps, learning_rate or LM_LR.get(method, LM_LR["full"])
    tc.eval_interval = tc.checkpoint_interval = max(min(steps, 10), steps // 4)
    tc.warmup_iters, tc.min_lr, tc.batch_size, tc.eval_iters = steps // 20, tc.learning_rate / 10, 8, 5
    return apply_overrides(config, overrides or []).validate()


def _dialogue_config(task: str, base: str | Path, data: str | Path, method: str, epochs: float, batch_size: int,
                     learning_rate: float, overrides: list[str] | None, **finetune_fields) -> RunConfig:
    finetune = FinetuneConfig(task=task, method=method, **finetune_fields)
    finetune.validate()  # before the file is read
    config = _new_config(base, finetune, [str(data)])
    examples = (read_conversations if task == "chat" else read_preferences)(data)
    steps_per_epoch = math.ceil(len(split_examples(examples, config.data.val_fraction)[0]) / batch_size)
    tc = config.train
    tc.batch_size, tc.learning_rate = batch_size, learning_rate
    tc.max_iters = max(1, round(epochs * steps_per_epoch))
    tc.eval_interval = tc.checkpoint_interval = max(1, min(tc.max_iters, steps_per_epoch // EVALS_PER_EPOCH))
    tc.warmup_iters, tc.min_lr, tc.eval_iters, tc.log_interval = tc.max_iters // 20, tc.learning_rate / 10, 5, 10
    return apply_overrides(config, overrides or []).validate()


def chat_config(base: str | Path, data: str | Path, method: str = "lora", epochs: float = 2.0, batch_size: int = 16,
                learning_rate: float | None = None, overrides: list[str] | None = None,
                **finetune_fields) -> RunConfig:
    """Supervised chat fine-tuning on a conversations JSONL file: the loss on the assistant's tokens only."""
    return _dialogue_config("chat", base, data, method, epochs, batch_size,
                            learning_rate or LM_LR.get(method, LM_LR["full"]), overrides, **finetune_fields)


def dpo_config(base: str | Path, data: str | Path, beta: float = 0.1, epochs: float = 1.0, batch_size: int = 8,
               learning_rate: float | None = None, overrides: list[str] | None = None,
               **finetune_fields) -> RunConfig:
    """Preference tuning (DPO) of a LoRA adapter on a preference-pairs JSONL file, the base as reference."""
    return _dialogue_config("dpo", base, data, "lora", epochs, batch_size, learning_rate or DPO_LR, overrides,
                            dpo_beta=beta, **finetune_fields)


def check_task(config: RunConfig) -> None:
    """What only the base and the task together can say (validated configs otherwise)."""
    ft, mc = config.finetune, config.model
    if not ft.task or not config.train.init_from:
        raise LanternError("a fine-tuning run needs finetune.task and a base run (train.init_from)")
    if ft.task in ("lm", "chat", "dpo") and mc.family != "gpt":
        raise LanternError(f"{ft.task} fine-tuning needs a decoder (family gpt); the base is a {mc.family} model")
    prompt = ft.prompt_tokens if ft.method == "prompt" else 0
    room = mc.block_size - prompt
    if ft.task == "classify" and ft.max_length > room:
        raise LanternError(f"finetune.max_length {ft.max_length} does not fit: the base reads {mc.block_size} "
                           f"positions{f', {prompt} of them the soft prompt' if prompt else ''}")
    if room < 2:
        raise LanternError(f"a soft prompt of {prompt} tokens leaves no room in the base's {mc.block_size} positions")


def finetune(config: RunConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
             quiet: bool = False) -> FinetuneResult:
    """Train the fine-tuning run `config` describes into `out` (resume / overwrite as `train()`), then write the
    best checkpoint's weights and the adapter file. Under torchrun every rank calls this; rank 0 writes."""
    check_task(config)
    if not resume:
        base = load_run(config.train.init_from)
        config.finetune.base_id = weights_fingerprint(base.model)
    result = train(config, out, resume=resume, overwrite=overwrite, quiet=quiet)
    if os.environ.get("RANK", "0") != "0":
        return FinetuneResult(Path(out), result.steps, None, {}, 0, 0, None, result.tokens_per_sec)
    return export(out, result.tokens_per_sec)


def export(out: str | Path, tokens_per_sec: float | None = None) -> FinetuneResult:
    """The best checkpoint's weights as the run's model.safetensors, and (unless every weight trained) the
    adapter file beside it."""
    paths = RunPaths(out)
    best = best_checkpoint(paths.checkpoints)
    if best is not None and (best / "model.safetensors").is_file():
        with atomic_path(paths.weights) as tmp:
            shutil.copyfile(best / "model.safetensors", tmp)
    loaded = load_run(out)
    ft = loaded.config.finetune
    adapter_bytes = None
    if ft.method != "full":
        adapter_bytes = save_adapter(loaded.model, ft, paths.root / FILE_NAME, loaded.config.train.init_from)
    records = read_metrics(paths.metrics)
    best_step = int(best.name.split("-")[1]) if best is not None else None
    evaluations = [r for r in records if "val_loss" in r]
    best_record = next((r for r in evaluations if r["step"] == best_step), evaluations[-1] if evaluations else {})
    return FinetuneResult(paths.root, max((r["step"] for r in records), default=0), best_step, best_record,
                          trainable_parameters(loaded.model),  # load_run froze the base unless the method is full
                          sum(p.numel() for p in loaded.model.parameters()), adapter_bytes, tokens_per_sec)


def merge_adapter(adapter: str | Path, out: str | Path, base: str | Path | None = None) -> Path:
    """Fold a LoRA adapter into its base: W' = W + B·A·(α/r), written as a run with no adapter (a plain model,
    or for a classifier adapter a classifier run whose every weight is its own)."""
    _, finetune, metadata = read_adapter(adapter)
    if finetune.method == "prompt":
        raise LanternError(f"{adapter} is a soft prompt: it adds inputs, not weights, so there is nothing to merge "
                           "(load it as an adapter instead)")
    base = base or metadata.get("base_run")
    if not base:
        raise LanternError(f"{adapter} does not say where its base run is; give it with --base")
    out = Path(out)
    check_writable(out, folder=True)
    if out.exists() and any(out.iterdir()):
        raise LanternError(f"{out} already exists and is not empty; choose another --out")
    base_config(base)
    loaded = load_run(base)
    view = load_adapter(loaded.model, adapter, name="merged")
    merge_lora(loaded.model, "merged")
    plain_linears(loaded.model)
    config = loaded.config
    classifier = finetune.task == "classify"
    config.finetune = replace(finetune, method="full", base_id="") if classifier else FinetuneConfig()
    with atomic_directory(out) as tmp:
        paths = RunPaths(tmp)
        loaded.tokenizer.save(paths.tokenizer)
        save_weights(view if classifier else loaded.model, paths.weights)
        write_text_atomic(paths.config, config.to_toml())
    return out

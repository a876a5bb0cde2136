"""The training loop: batches of next-token windows, forward, cross-entropy, backward, clip, AdamW step.

`train()` prepares a run directory (config, tokenizer, data) and hands over to `Trainer`, which owns the
optimisation state, evaluates on a schedule, checkpoints atomically *before* each evaluation, and resumes a
killed run exactly (same losses as if it had never stopped).

What makes resuming exact, wherever the kill fell:
* the checkpoint holds every random state training draws from (Python, NumPy, torch CPU and CUDA, the window
  generator), and nothing else draws from them (evaluation batches and the FLOP/s probe have their own);
* metrics.jsonl is the record of evaluations: each is appended (and fsynced) right after it runs, so on resume
  the step of the checkpoint finds its evaluation there, or evaluates again when a kill cut it off;
* a run stopped before its first checkpoint restarts from step 0, which is the same thing (same seed).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..config import RunConfig
from ..data import TokenWindows
from ..data.pairs import source_tokenizer
from ..data.splits import load_splits, training_sampler
from ..device import autocast, resolve_device, resolve_dtype, to_device
from ..errors import LanternError
from ..inspect.params import count_parameters, flops_per_token
from ..io import check_writable, make_folder, remove_stale_temporaries, remove_tree, write_text_atomic
from ..models import build_model
from ..models.adapted import adapt_model
from ..runs import RunExistsError, RunNotFoundError, RunPaths, load_run_config, load_weights, save_weights
from ..tokenizers import Tokenizer, load_tokenizer
from .checkpoint import (best_checkpoint, checkpoint_path, checkpoint_step, list_checkpoints, load_checkpoint,
                         mark_best, save_checkpoint)
from .distributed import DistContext, distributed_device, init_distributed, shutdown_distributed
from .flops import compile_or_eager, device_memory_bytes, peak_flops, peak_memory_mb
from .metrics import MetricsLog, is_number, read_metrics, run_summary
from .plot import plot_runs
from .progress import TrainingProgress
from .schedule import learning_rate_at

EVAL_SEED_OFFSET = 10_000  # evaluation batches come from their own generator, so they never shift training RNG


WARMUP_ITERS = 10  # the first iterations include one-off costs (allocation, kernel selection): not timed


@dataclass
class TrainResult:
    """A run's figures at its last step: train loss and validation loss of that step, and the speed of the
    session that trained it (None when unknown). `trained_now`: the steps this call trained (0: it was done)."""

    run_dir: Path
    steps: int
    train_loss: float | None
    val_loss: float | None
    ms_per_iter: float | None
    tokens_per_sec: float | None
    trained_now: int = 0


def configure_optimizer(model: torch.nn.Module, config: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (>= 2-D: embeddings, Linear weights), not on biases and norms.

    The fused kernel (one op for all parameters) measured 48 ms/iter vs 50 (foreach) and 57 (per-parameter
    loop) on the baby config on a 2-core CPU; it also serves CUDA.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.train.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=config.train.learning_rate, betas=(config.train.beta1, config.train.beta2),
                             fused=fused)


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, splits: dict[str, TokenWindows], eval_iters: int, batch_size: int,
                  block_size: int, seed: int, device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    """Mean loss over `eval_iters` batches per split ({"train": ..., "val": ...}), the same batches at every
    evaluation (fixed seed); a model output's `metrics` (e.g. masked-token accuracy) are averaged alongside
    as "<split>_<name>"."""
    was_training = model.training
    model.eval()
    results: dict[str, float] = {}
    for name, data in splits.items():
        generator = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
        totals: dict[str, float] = {}
        for _ in range(eval_iters):
            inputs = data.random_inputs(batch_size, block_size, generator)
            with autocast(device, dtype):
                output = model(**to_device(inputs, device))
            extra = getattr(output, "metrics", None) or {}
            for key, value in {name: output.loss, **{f"{name}_{k}": v for k, v in extra.items()}}.items():
                totals[key] = totals.get(key, 0.0) + value.item()
        results.update({key: total / eval_iters for key, total in totals.items()})
    model.train(was_training)
    return results


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Owns model, optimizer, window sampler and the loop; `run()` trains up to `train.max_iters`.

    One optimizer step = grad_accum micro-batches on each of world_size processes. All ranks compute the same
    window starts (one sampler, one seed) and each reads only its own share, so N processes with
    accumulation A compute exactly what one process with accumulation N·A would.
    """

    def __init__(self, config: RunConfig, paths: RunPaths, model: torch.nn.Module, train_data: TokenWindows,
                 val_data: TokenWindows, device: torch.device, dtype: torch.dtype, quiet: bool = False,
                 dist_context: DistContext | None = None) -> None:
        self.config, self.paths, self.model = config, paths, model
        self.train_data, self.val_data = train_data, val_data
        self.device, self.dtype = device, dtype
        self.dist = dist_context or DistContext()
        self.quiet = quiet or not self.dist.is_main
        self.optimizer = configure_optimizer(model, config, device)
        # fp16 gradients underflow to zero without loss scaling; bf16 and fp32 need none (a no-op when disabled)
        self.scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(config.train.seed)  # random sampling draws from it
        self.sampler = training_sampler(config, train_data, self.generator)
        self.metrics = MetricsLog(paths.metrics)
        self.step = 0
        self.last_train_loss: float | None = None
        self.metric = config.train.best_metric  # picks the best checkpoint; val_loss falls, scores rise
        self.sign = 1.0 if self.metric == "val_loss" else -1.0
        self.evaluated: dict[int, float] = {}  # step -> best_metric, as metrics.jsonl records it
        self.best_score = float("inf")  # sign * best_metric: lower is better

    def resume(self) -> None:
        """Continue from the newest complete checkpoint, or from step 0 if the run was stopped before its first
        (a fresh start with the same seed is the same trajectory)."""
        checkpoints = list_checkpoints(self.paths.checkpoints)
        if checkpoints:
            state = load_checkpoint(checkpoints[-1], self.model, self.optimizer, self.generator)
            self.step = int(state["step"])
            if "grad_scaler" in state["extra"]:
                self.scaler.load_state_dict(state["extra"]["grad_scaler"])
        if self.dist.is_main:
            if checkpoints:  # a kill between a checkpoint and the run's weights left older weights there
                save_weights(self.model, self.paths.weights)
            self.metrics.truncate_after(self.step)
            self.evaluated = {r["step"]: r[self.metric] for r in read_metrics(self.paths.metrics)
                              if is_number(r.get(self.metric))}
            scored = {step: self.sign * value for step, value in self.evaluated.items() if step > 0}
            if scored:
                best = min(scored, key=scored.get)
                self.best_score = scored[best]
                self.mark_best(best)

    def mark_best(self, step: int) -> None:
        """Point best.json at `step` unless it does already (a kill may have cut off the last update)."""
        path = checkpoint_path(self.paths.checkpoints, step)
        if path.is_dir() and best_checkpoint(self.paths.checkpoints) != path:
            mark_best(self.paths.checkpoints, step, self.evaluated[step], self.metric)

    def evaluate(self) -> dict[str, float]:
        tc = self.config.train
        losses = estimate_loss(self.model, {"train": self.train_data, "val": self.val_data}, tc.eval_iters,
                               tc.batch_size, self.config.window_size, tc.seed, self.device, self.dtype)
        extra = {(f"{key}_eval" if key.startswith("train_") else key): value for key, value in losses.items()
                 if key not in ("train", "val")}  # e.g. a masked LM's val_accuracy, train_accuracy_eval
        record = {"step": self.step, "train_loss_eval": losses["train"], "val_loss": losses["val"], **extra}
        if hasattr(self.val_data, "scores"):  # e.g. a classifier's accuracy, F1 and confusion matrix
            scores = {f"val_{name}": value for name, value in
                      self.val_data.scores(self.model, self.device, self.dtype).items()}
            record.update(scores)
            losses.update(scores)
        self.metrics.write(record, durable=True)
        self.evaluated[self.step] = record[self.metric]
        score = self.sign * record[self.metric]
        if self.step > 0 and score < self.best_score:  # every evaluated step > 0 has its checkpoint
            self.best_score = score
            self.mark_best(self.step)
        return losses

    def stopped_early(self) -> bool:
        """train.early_stopping evaluations in a row without a better best_metric: training is over (a function
        of the evaluations in metrics.jsonl, so a resumed run decides the same)."""
        patience = self.config.train.early_stopping
        scored = sorted(step for step in self.evaluated if step > 0)
        if not patience or not scored:
            return False
        best = min(scored, key=lambda step: self.sign * self.evaluated[step])
        return sum(step > best for step in scored) >= patience

    def keep_training(self) -> bool:
        """Below train.max_iters and not stopped early (rank 0 decides: only it evaluates)."""
        if self.step >= self.config.train.max_iters:
            return False
        if not self.config.train.early_stopping:
            return True
        stop = torch.tensor(float(self.stopped_early()), device=self.device)
        return self.dist.mean(stop).item() == 0

    def needs_evaluation(self) -> bool:
        tc = self.config.train
        due = self.step == 0 or self.step % tc.eval_interval == 0 or self.step == tc.max_iters
        return due and self.step not in self.evaluated and self.dist.is_main

    def save(self) -> None:
        extra = {}
        if self.scaler.is_enabled():
            extra["grad_scaler"] = self.scaler.state_dict()
        save_checkpoint(self.paths.checkpoints, self.step, self.model, self.optimizer, self.generator, extra,
                        self.config.train.keep_checkpoints)
        save_weights(self.model, self.paths.weights)

    @property
    def windows_per_step(self) -> int:
        return self.config.train.grad_accum * self.dist.world_size * self.config.train.batch_size

    def micro_batches(self) -> list[dict[str, torch.Tensor]]:
        """This rank's grad_accum micro-batches for the next optimizer step."""
        tc, block_size = self.config.train, self.config.window_size
        per_step = self.windows_per_step
        starts = self.sampler.starts(self.step * per_step, per_step)
        starts = starts.view(tc.grad_accum, self.dist.world_size, tc.batch_size)[:, self.dist.rank]
        return [self.train_data.inputs_at(s, block_size) for s in starts]

    def check_finite(self, loss: float) -> None:
        if math.isfinite(loss):
            return
        checkpoints = list_checkpoints(self.paths.checkpoints)
        kept = (f"the run stays at its checkpoint of step {checkpoint_step(checkpoints[-1]):,}, "
                "where resuming continues" if checkpoints else
                "nothing was checkpointed yet, so resuming starts the run again from step 0")
        raise LanternError(f"the loss became {loss} at step {self.step} (try a lower train.learning_rate); {kept}")

    def run(self) -> TrainResult:
        tc, block_size = self.config.train, self.config.window_size
        model, optimizer, device = self.model, self.optimizer, self.device
        params = [p for p in model.parameters() if p.requires_grad]
        step_model, ddp = wrap_for_training(model, self.dist, device, tc.compile)
        tokens_per_iter = round(self.windows_per_step * self.train_data.tokens_per_example(block_size))
        flops_per_iter = flops_per_token(self.config.model)[1] * tokens_per_iter
        peak = peak_flops(device, self.dtype) * self.dist.world_size
        progress = TrainingProgress(tc.max_iters, self.step, enabled=not self.quiet)
        if self.keep_training():
            progress.announce(f"{'continuing' if self.step else 'training'} {self.paths.root} from step {self.step} "
                              f"to {tc.max_iters}")
        if self.needs_evaluation():  # step 0, or a resumed step whose evaluation a kill cut off
            progress.log_eval(self.step, self.evaluate())
        model.train()
        iter_times: list[float] = []
        with progress if self.keep_training() else contextlib.nullcontext():  # no bar for a finished run
            while self.keep_training():
                started = time.perf_counter()
                lr = learning_rate_at(self.step, tc)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss_sum = torch.zeros((), device=device)
                batches = self.micro_batches()
                for i, inputs in enumerate(batches):
                    last = i == len(batches) - 1
                    # DDP averages gradients across ranks only on the last micro-batch's backward
                    with contextlib.nullcontext() if last or ddp is None else ddp.no_sync():
                        with autocast(device, self.dtype):
                            output = step_model(**to_device(inputs, device))
                            loss = output.loss / len(batches)
                        self.scaler.scale(loss).backward()
                    loss_sum += loss.detach()
                self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip) if tc.grad_clip > 0 else None
                self.scaler.step(optimizer)  # skipped (and the scale lowered) if fp16 gradients overflowed
                self.scaler.update()
                optimizer.zero_grad(set_to_none=True)
                self.step += 1
                iter_times.append(time.perf_counter() - started)

                log_now = self.step % tc.log_interval == 0 or self.step == tc.max_iters
                save_now = (self.step % tc.checkpoint_interval == 0 or self.step % tc.eval_interval == 0
                            or self.step == tc.max_iters)
                if log_now or save_now:
                    self.last_train_loss = self.dist.mean(loss_sum).item()
                    self.check_finite(self.last_train_loss)  # never checkpoint a diverged model
                if log_now and self.dist.is_main:
                    recent = iter_times[-tc.log_interval:]
                    seconds = sum(recent) / len(recent)
                    record = {"step": self.step, "loss": self.last_train_loss, "lr": lr,
                              "epoch": round(self.sampler.epochs(self.step * self.windows_per_step), 4),
                              "tokens_per_sec": tokens_per_iter / seconds,
                              "mfu": flops_per_iter / seconds / peak, "peak_memory_mb": peak_memory_mb(device)}
                    if grad_norm is not None:
                        record["grad_norm"] = grad_norm.item()
                    for key, value in (getattr(output, "metrics", None) or {}).items():  # of the last micro-batch
                        record[key] = value.item()
                    if getattr(output, "expert_load", None) is not None:  # MoE: share of tokens per expert
                        record["moe_aux_loss"] = output.aux_loss.item()
                        record["expert_load"] = [round(v, 4) for v in output.expert_load.mean(0).tolist()]
                    self.metrics.write(record)
                    progress.update(self.step, self.last_train_loss, lr, tokens_per_iter / seconds)
                if save_now and self.dist.is_main:
                    self.save()  # before evaluation, so a crash during eval loses nothing
                if self.needs_evaluation():
                    progress.log_eval(self.step, self.evaluate())
        self.dist.barrier()
        if self.dist.is_main and iter_times:
            steady = sorted(iter_times[min(WARMUP_ITERS, len(iter_times) // 2):])
            median = steady[len(steady) // 2]  # the steady state of this session
            self.metrics.write({"step": self.step, "summary": {"ms_per_iter": 1000 * median,
                                                               "tokens_per_sec": tokens_per_iter / median}})
        if self.dist.is_main:  # also on a re-run: a kill may have cut off the last one
            plot_runs({self.paths.root.name: self.paths.metrics}, self.paths.plot)
        return self.result(len(iter_times))

    def result(self, trained_now: int) -> TrainResult:
        """The figures of the run's last step, as metrics.jsonl records them (so a re-run reprints them)."""
        summary = run_summary(read_metrics(self.paths.metrics), self.step) if self.dist.is_main else {}
        return TrainResult(self.paths.root, self.step, summary.get("loss"), summary.get("val_loss"),
                           summary.get("ms_per_iter"), summary.get("tokens_per_sec"), trained_now)


def wrap_for_training(model: torch.nn.Module, context: DistContext, device: torch.device, compile_model: bool):
    """(module to call, DDP wrapper or None): DistributedDataParallel under torchrun, then torch.compile if
    asked (eager if compiling fails)."""
    ddp = None
    if context.enabled:
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    wrapped = ddp or model
    return (compile_or_eager(wrapped) if compile_model else wrapped), ddp


def _load_data(config: RunConfig, tokenizer: Tokenizer | None) -> tuple[Tokenizer, TokenWindows, TokenWindows]:
    tokenizer, train_data, val_data = load_splits(config, tokenizer)
    for data in (train_data, val_data):
        data.check_fits(config.window_size)
    return tokenizer, train_data, val_data


def describe_run(paths: RunPaths) -> str | None:
    """How far the run in `paths` got, in words, or None when the folder holds no run (no config.toml)."""
    if not paths.config.is_file():
        return None
    checkpoints = list_checkpoints(paths.checkpoints)
    if not checkpoints:
        return "stopped before its first checkpoint"
    return f"checkpointed at step {checkpoint_step(checkpoints[-1]):,}"


def check_memory(config: RunConfig, device: torch.device) -> None:
    """Refuse a model whose weights, gradients and two AdamW moments (4 x 4 bytes a parameter) exceed the
    device's memory: it could only fail later, after a long wait, or take the machine down."""
    parameters = count_parameters(config.model).total
    available = device_memory_bytes(device)
    if available is not None and 16 * parameters > available:
        raise LanternError(f"a model of {parameters:,} parameters needs about {16 * parameters / 2**30:,.1f} GiB "
                           f"for weights, gradients and optimizer state; {device} has {available / 2**30:,.1f} GiB")


def _check_arguments(config: RunConfig, paths: RunPaths, resume: bool, overwrite: bool,
                     init_from: str | Path | None) -> str | None:
    """The Python API's own checks, with its argument names; returns describe_run(paths)."""
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a lanternlm.config.RunConfig (e.g. from resolve_config()), "
                        f"not {type(config).__name__}")
    config.validate()  # where a config enters from Python; everything after trusts it
    if resume and overwrite:
        raise ValueError("resume=True continues the run in out and overwrite=True replaces it; choose one")
    if resume and init_from is not None:
        raise ValueError("init_from= starts a new run; a resumed run keeps the start it was given")
    if paths.root.exists() and not paths.root.is_dir():
        raise LanternError(f"{paths.root} is a file; give a folder for the run")
    if not paths.root.is_dir():
        check_writable(paths.root, folder=True)
    elif not os.access(paths.root, os.W_OK | os.X_OK):
        raise LanternError(f"cannot write in {paths.root} (permission denied)")
    state = describe_run(paths)
    if resume and state is None:
        raise RunNotFoundError(f"{paths.root} holds no run to resume (no config.toml); call train() without "
                               "resume=True to start one")
    if not resume and state is not None and not overwrite:
        raise RunExistsError(paths.root, state)
    if overwrite and state is None and paths.root.is_dir() and any(paths.root.iterdir()):
        raise LanternError(f"{paths.root} is a folder but not a Lantern run (no config.toml); refusing to replace it")
    return state


def train(config: RunConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          init_from: str | Path | None = None, quiet: bool = False) -> TrainResult:
    """Train a model as `config` says, writing the run to the folder `out`.

    resume: continue the run in `out` from its newest checkpoint (from step 0 if it stopped before its first);
      a finished run trains no further and returns its final figures (`trained_now` 0).
    overwrite: replace the run in `out`. Only a Lantern run (or an empty folder) is ever replaced, and only once
      config, data and memory have been checked.
    init_from: start from another run's weights, tokenizer and model shape (fine-tuning on new text); the run
      records it as train.init_from.
    Everything is checked before `out` is touched, so bad input never damages an existing run: a run already
    in `out` without resume or overwrite raises RunExistsError (a FileExistsError), resume without a run
    RunNotFoundError (a FileNotFoundError), other bad input a LanternError naming what is wrong.
    Under `torchrun`, every rank calls this; only rank 0 writes.
    """
    paths = RunPaths(out)
    state = _check_arguments(config, paths, resume, overwrite, init_from)
    if init_from is not None:
        config.train.init_from = str(Path(init_from).resolve())
    tokenizer = load_tokenizer(paths.tokenizer) if resume else None
    start = RunPaths(config.train.init_from) if config.train.init_from else None
    if start is not None and not resume:
        config.model = load_run_config(start.root).model
        tokenizer = load_tokenizer(start.tokenizer)
    if config.model.quantization != "none":
        raise LanternError(f"{start.root if start else paths.root} has {config.model.quantization} weights, which are "
                           "for inference only; train from the float run it was quantized from")
    tokenizer, train_data, val_data = _load_data(config, tokenizer)
    if config.model.vocab_size not in (0, tokenizer.vocab_size):
        raise LanternError(f"model.vocab_size {config.model.vocab_size} does not match the tokenizer "
                           f"({tokenizer.vocab_size} tokens)")
    config.model.vocab_size = tokenizer.vocab_size
    config.model.source_vocab_size = source_tokenizer(tokenizer).vocab_size if tokenizer.kind == "pair" else 0
    config.validate()

    context = init_distributed(config.train.device)
    try:
        device = resolve_device(distributed_device(context, config.train.device))
        dtype = resolve_dtype(config.train.dtype, device)
        check_memory(config, device)
        seed_everything(config.train.seed)
        model = build_model(config.model)
        if start is not None and not (resume and list_checkpoints(paths.checkpoints)):
            load_weights(model, start.weights)
        model = adapt_model(model.to(device), config.finetune, prompt_ids(config, tokenizer))
        if context.is_main:
            _prepare_folder(paths, config, tokenizer, fresh=not resume, replace=overwrite and state is not None)
        context.barrier()  # the run directory exists before any rank goes on
        trainer = Trainer(config, paths, model, train_data, val_data, device, dtype, quiet, context)
        if resume:
            trainer.resume()
            if context.is_main and paths.config.read_text(encoding="utf-8") != config.to_toml():
                write_text_atomic(paths.config, config.to_toml())  # e.g. a longer max_iters: kept for the next resume
        return trainer.run()
    finally:
        shutdown_distributed(context)


def prompt_ids(config: RunConfig, tokenizer: Tokenizer) -> list[int] | None:
    """The tokens whose embeddings start a soft prompt (finetune.prompt_init), if any."""
    return tokenizer.encode(config.finetune.prompt_init) if config.finetune.prompt_init else None


def _prepare_folder(paths: RunPaths, config: RunConfig, tokenizer: Tokenizer, fresh: bool, replace: bool) -> None:
    """Clear what kills left behind; for a new run write the tokenizer, then config.toml (which makes the
    folder a run, so a kill in between leaves a folder a new run may reuse)."""
    if replace:
        remove_tree(paths.root)
    remove_stale_temporaries(paths.root.parent, paths.root.name)
    remove_stale_temporaries(paths.root)
    remove_stale_temporaries(paths.checkpoints)
    if fresh:
        make_folder(paths.root)
        paths.metrics.unlink(missing_ok=True)
        tokenizer.save(paths.tokenizer)
        write_text_atomic(paths.config, config.to_toml())

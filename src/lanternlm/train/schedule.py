"""Learning-rate schedule: linear warm-up, then cosine (or linear) decay to a floor, or constant."""

from __future__ import annotations

import math

from ..config import TrainConfig


def learning_rate_at(it: int, cfg: TrainConfig) -> float:
    """lr for iteration `it` (0-based). Cosine: min_lr + ½(1 + cos(π·progress))·(lr − min_lr)."""
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if it >= decay_iters or decay_iters <= cfg.warmup_iters:
        return cfg.min_lr
    progress = (it - cfg.warmup_iters) / (decay_iters - cfg.warmup_iters)
    if cfg.lr_schedule == "linear":
        return cfg.learning_rate - progress * (cfg.learning_rate - cfg.min_lr)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)

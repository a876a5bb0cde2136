"""Training: the loop, its schedule, checkpoints and metrics."""

from .schedule import learning_rate_at
from .trainer import Trainer, TrainResult, configure_optimizer, estimate_loss, train

__all__ = ["Trainer", "TrainResult", "configure_optimizer", "estimate_loss", "learning_rate_at", "train"]

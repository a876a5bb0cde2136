"""Model families. `build_model(config)` returns the network a config describes."""

from ..config import ModelConfig
from ..errors import LanternError
from .gpt import GPT, LMOutput

FAMILIES = {"gpt": GPT}


def build_model(config: ModelConfig):
    config.validate()
    if config.family not in FAMILIES:
        raise LanternError(f"unknown model family {config.family!r}; available: {', '.join(FAMILIES)}")
    return FAMILIES[config.family](config)


__all__ = ["GPT", "LMOutput", "build_model", "FAMILIES"]

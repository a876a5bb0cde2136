"""Generation: samplers and the engine that runs them."""

from .engine import Engine, GenerationStats
from .sampling import sample_next, top_k_filter

__all__ = ["Engine", "GenerationStats", "sample_next", "top_k_filter"]

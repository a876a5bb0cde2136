"""Generation: samplers, beam search, the decoder (KV cache), the engine that runs them, and the chat template."""

from .config import GenerationConfig
from .engine import Engine, GenerationStats
from .sampling import (apply_temperature, min_p_filter, presence_frequency_penalty, process_logits,
                       repetition_penalty, sample_next, top_k_filter, top_p_filter)

__all__ = ["Engine", "GenerationConfig", "GenerationStats", "apply_temperature", "min_p_filter",
           "presence_frequency_penalty", "process_logits", "repetition_penalty", "sample_next", "top_k_filter",
           "top_p_filter"]

"""Generation: samplers, beam search, the decoder (KV cache), the engine that runs them, and the chat template."""

from .config import GenerationConfig
from .engine import Engine, Generation
from .session import DecodingSession
from .stats import GenerationStats
from .sampling import (Sampler, apply_temperature, min_p_filter, presence_frequency_penalty, process_logits,
                       repetition_penalty, sample_next, top_k_filter, top_p_filter)
from .step import Step
from .streaming import TextDelta, TextStep

__all__ = ["DecodingSession", "Engine", "Generation", "GenerationConfig", "GenerationStats", "Sampler", "Step", "TextDelta", "TextStep",
           "apply_temperature", "min_p_filter", "presence_frequency_penalty", "process_logits", "repetition_penalty",
           "sample_next", "top_k_filter", "top_p_filter"]

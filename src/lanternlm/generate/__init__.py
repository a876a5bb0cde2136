"""Generation: samplers, beam search, the decoder (KV cache), the engine that runs them, the chat template and
translation (an encoder–decoder through the same loop)."""

from .config import GenerationConfig
from .engine import Engine, Generation
from .session import DecodingSession
from .stats import GenerationStats
from .sampling import (Sampler, apply_temperature, min_p_filter, presence_frequency_penalty, process_logits,
                       repetition_penalty, sample_next, top_k_filter, top_p_filter)
from .step import Step
from .streaming import TextDelta, TextStep
from .translate import Translation, translate

__all__ = ["DecodingSession", "Engine", "Generation", "GenerationConfig", "GenerationStats", "Sampler", "Step",
           "TextDelta", "TextStep", "Translation", "translate",
           "apply_temperature", "min_p_filter", "presence_frequency_penalty", "process_logits", "repetition_penalty",
           "sample_next", "top_k_filter", "top_p_filter"]

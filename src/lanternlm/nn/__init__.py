"""Building blocks of the models, each named after the concept it implements."""

from .attention import CausalSelfAttention, attention_reference, causal_mask
from .feedforward import ACTIVATIONS, FeedForward
from .functional import cosine_similarity, softmax

__all__ = ["CausalSelfAttention", "attention_reference", "causal_mask", "ACTIVATIONS", "FeedForward",
           "cosine_similarity", "softmax"]

"""Building blocks of the models, each named after the concept it implements."""

from .attention import CausalSelfAttention, GroupedQueryAttention, allowed_keys, attention_reference, causal_mask
from .feedforward import ACTIVATIONS, FeedForward
from .functional import cosine_similarity, softmax
from .kv_cache import KVCache, LayerKVCache
from .linear import Linear, row_split_linear
from .moe import MoEFeedForward, Routing
from .norms import RMSNorm, make_norm
from .positions import (LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding, alibi_bias,
                        alibi_slopes)

__all__ = ["CausalSelfAttention", "GroupedQueryAttention", "allowed_keys", "attention_reference", "causal_mask",
           "ACTIVATIONS", "FeedForward", "cosine_similarity", "softmax", "KVCache", "LayerKVCache", "Linear",
           "row_split_linear", "MoEFeedForward", "Routing", "RMSNorm", "make_norm", "LearnedPositionalEmbedding",
           "RotaryEmbedding", "SinusoidalPositionalEncoding", "alibi_bias", "alibi_slopes"]

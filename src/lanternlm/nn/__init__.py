"""Building blocks of the models, each named after the concept it implements."""

from .attention import (CausalSelfAttention, CrossAttention, GroupedQueryAttention, allowed_keys, attend,
                        attention_reference, causal_mask, fused_attention)
from .feedforward import ACTIVATIONS, FeedForward
from .functional import cosine_similarity, softmax
from .kv_cache import EncoderDecoderCache, KVCache, LayerKVCache
from .linear import Linear, row_split_linear
from .moe import MoEFeedForward, Routing
from .norms import RMSNorm, make_norm
from .positions import (LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding, alibi_bias,
                        alibi_slopes)

__all__ = ["CausalSelfAttention", "CrossAttention", "GroupedQueryAttention", "allowed_keys", "attend",
           "attention_reference", "causal_mask", "fused_attention", "ACTIVATIONS", "FeedForward", "cosine_similarity",
           "softmax", "EncoderDecoderCache", "KVCache", "LayerKVCache", "Linear", "row_split_linear",
           "MoEFeedForward", "Routing", "RMSNorm", "make_norm", "LearnedPositionalEmbedding", "RotaryEmbedding",
           "SinusoidalPositionalEncoding", "alibi_bias", "alibi_slopes"]

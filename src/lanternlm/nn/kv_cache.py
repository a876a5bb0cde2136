"""The KV cache: keys and values of the tokens already seen, kept per layer for incremental decoding.

A causal model never lets an old position look at a new one, so the keys and values of positions 0..p-1 do
not change when token p arrives. Generation therefore feeds the whole prompt once ("prefill"), then one token
at a time, each step computing Q, K, V for the new token only and attending over the cached K, V: O(T) work
per token instead of O(T²).

Usage (what the model does with it): `model(idx, kv_cache=cache, start_pos=p)` writes the keys/values of
positions p..p+T-1 into every layer's cache and attends over positions 0..p+T-1. Positions are absolute, so
the cache holds at most `block_size` positions; a longer conversation is continued by re-prefilling the last
tokens (the engine's job; a model with learned positions has no embedding past block_size anyway).
Writing at a `start_pos` below the current length overwrites (rolls back) the later positions.
"""

from __future__ import annotations

import torch


class LayerKVCache:
    """One layer's keys and values, (B, n_kv_head, max_len, d_head) each, filled up to `length`."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys, self.values = keys, values
        self.length = 0

    def update(self, k: torch.Tensor, v: torch.Tensor,
               start_pos: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, n_kv_head, T, d_head) at positions start_pos..start_pos+T-1; return all keys/values
        of positions 0..start_pos+T-1. A (B,) tensor start_pos writes each row's one new token (T = 1) at its
        own position and returns the keys up to the furthest row (each row sees only its own: attention masks)."""
        if isinstance(start_pos, torch.Tensor):
            rows = torch.arange(k.size(0), device=k.device)
            self.keys[rows, :, start_pos] = k[:, :, 0]
            self.values[rows, :, start_pos] = v[:, :, 0]
            end = int(start_pos.max()) + 1
            self.length = max(self.length, end)
            return self.keys[:, :, :end], self.values[:, :, :end]
        end = start_pos + k.size(2)
        if start_pos > self.length or end > self.keys.size(2):
            raise ValueError(f"KV cache: cannot write positions {start_pos}..{end - 1} (holds {self.length} of "
                             f"at most {self.keys.size(2)})")
        self.keys[:, :, start_pos:end] = k
        self.values[:, :, start_pos:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class KVCache:
    """Per-layer caches for a batch of `batch_size` sequences of up to `max_len` positions."""

    def __init__(self, n_layer: int, batch_size: int, n_kv_head: int, max_len: int, head_dim: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        shape = (batch_size, n_kv_head, max_len, head_dim)
        self.layers = [LayerKVCache(torch.zeros(shape, device=device, dtype=dtype),
                                    torch.zeros(shape, device=device, dtype=dtype)) for _ in range(n_layer)]

    @classmethod
    def of_layers(cls, layers: list[LayerKVCache]) -> "KVCache":
        cache = cls.__new__(cls)
        cache.layers = layers
        return cache

    def rows(self, first: int, count: int) -> "KVCache":
        """Sequences first..first+count-1 as a cache of their own that shares this one's memory (a request's
        rows inside a continuous batch: what it writes, the batch sees)."""
        return KVCache.of_layers([LayerKVCache(layer.keys[first:first + count], layer.values[first:first + count])
                                  for layer in self.layers])

    def move_rows(self, source: int, target: int, count: int) -> None:
        """Copy sequences source.. onto target.. (closing a gap the batch left when a request ended)."""
        for layer in self.layers:
            for tensor in (layer.keys, layer.values):
                tensor[target:target + count] = tensor[source:source + count].clone()

    @property
    def length(self) -> int:
        """Number of positions cached so far."""
        return self.layers[0].length

    def set_length(self, length: int) -> None:
        """Record that positions 0..length-1 are filled (rows written by a batch they were part of)."""
        for layer in self.layers:
            layer.length = length

    def reorder(self, index: torch.Tensor) -> None:
        """Keep sequences `index` (with repeats): beam search continues its best beams, each with its own cache.
        In place, so a cache that is a view of a larger one (`rows`) stays one."""
        for layer in self.layers:
            layer.keys.copy_(layer.keys[index])
            layer.values.copy_(layer.values[index])

    def nbytes(self) -> int:
        return sum(layer.keys.nbytes + layer.values.nbytes for layer in self.layers)


class EncoderDecoderCache(KVCache):
    """An encoder–decoder's cache: the decoder's self-attention keys and values (growing one position per step,
    as above) plus what depends on the source alone and so is computed once, before the first step: every
    decoder layer's cross-attention keys and values of the encoded source, and the source padding mask."""

    def __init__(self, n_layer: int, batch_size: int, n_kv_head: int, max_len: int, head_dim: int,
                 memory: list[tuple[torch.Tensor, torch.Tensor]], source_mask: torch.Tensor | None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(n_layer, batch_size, n_kv_head, max_len, head_dim, device, dtype)
        self.memory = memory  # per layer (keys, values), (B, n_kv_head, S, d_head) each
        self.source_mask = source_mask  # (B, S) bool, False at padding; None: no padding

    def nbytes(self) -> int:
        return super().nbytes() + sum(k.nbytes + v.nbytes for k, v in self.memory)

    def reorder(self, index: torch.Tensor) -> None:
        super().reorder(index)
        self.memory = [(k[index], v[index]) for k, v in self.memory]
        if self.source_mask is not None:
            self.source_mask = self.source_mask[index]

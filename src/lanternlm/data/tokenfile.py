"""Prepared token data: token ids in flat binary files read through `np.memmap`, so a corpus far larger than
memory trains with the same (input, target) windows as `TokenWindows`.

A prepared data directory (written by `lantern prepare`, see `data/prepare.py`) holds:

    header.json     {"format": "lantern-tokens", "version": 1, "dtype": "uint16", "vocab_size": ..., "eot_id": ...,
                     "splits": {"train": {"file": "train.bin", "tokens": N}, "val": {...}}, "sources": [...]}
    train.bin       N ids, little-endian uint16 (vocab <= 65,536) or uint32
    val.bin
    tokenizer.json  the tokenizer that made the ids
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LanternError
from ..io import read_versioned_json
from .text import TokenWindows

FORMAT_NAME = "lantern-tokens"
FORMAT_VERSION = 1
HEADER = "header.json"
TOKENIZER = "tokenizer.json"


def dtype_for(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id: 2 bytes per token up to 65,536 ids, else 4."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class TokenFile(TokenWindows):
    """`TokenWindows` over a memory-mapped .bin file: same `batch`/`sequential` windows, same random starts.

    Only `window`/`windows_at` differ: they copy the requested slices out of the memory map."""

    def __init__(self, path: str | Path, dtype: np.dtype, n_tokens: int, name: str = "data") -> None:
        ids = np.memmap(path, dtype=dtype, mode="r", shape=(n_tokens,)) if n_tokens else np.zeros(0, dtype)
        super().__init__(ids, name)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.ids)

    def window(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(self.ids[start:stop].astype(np.int64))

    def windows_at(self, starts: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Read only the requested windows from the memory map (never the whole file)."""
        window = torch.stack([self.window(s, s + block_size + 1) for s in starts.tolist()])
        return window[:, :-1], window[:, 1:]


def read_header(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / HEADER
    if not path.is_file():
        raise LanternError(f"{data_dir}: not a prepared data directory (no {HEADER}; run `lantern prepare`)")
    return read_versioned_json(path, FORMAT_NAME, FORMAT_VERSION, "token-data header")


def load_prepared(data_dir: str | Path) -> tuple[TokenFile, TokenFile, dict[str, Any]]:
    """(train, val, header) of a prepared data directory; checks the header against the .bin file sizes.

    The tokenizer that made the ids is `load_tokenizer(Path(data_dir) / "tokenizer.json")`."""
    data_dir = Path(data_dir)
    header = read_header(data_dir)
    try:
        dtype = np.dtype(header["dtype"])
        if dtype not in (np.dtype("<u2"), np.dtype("<u4")) or dtype_for(header["vocab_size"]) != dtype:
            raise ValueError(header["dtype"])
        splits = []
        for name in ("train", "val"):
            entry = header["splits"][name]
            path, n_tokens = data_dir / entry["file"], int(entry["tokens"])
            if not path.is_file() or path.stat().st_size != n_tokens * dtype.itemsize:
                raise LanternError(f"{path}: missing, or its size does not match the {n_tokens:,} tokens in {HEADER}")
            splits.append(TokenFile(path, dtype, n_tokens, "train" if name == "train" else "validation"))
    except (KeyError, TypeError, ValueError) as exc:
        raise LanternError(f"{data_dir / HEADER}: corrupted header ({exc.__class__.__name__}: {exc})") from None
    return splits[0], splits[1], header

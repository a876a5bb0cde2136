"""Data pipeline: corpora, splits, and the windows each training step sees."""

from .text import TokenWindows, bundled_corpus_path, read_corpus, split_ids
from .windows import EpochWindows, RandomWindows, WindowSampler, window_sampler

__all__ = ["EpochWindows", "RandomWindows", "TokenWindows", "WindowSampler", "bundled_corpus_path", "read_corpus",
           "split_ids", "window_sampler"]

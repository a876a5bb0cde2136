"""Data pipeline: corpora, splits and batches."""

from .text import TokenWindows, bundled_corpus_path, read_corpus, read_text, split_ids

__all__ = ["TokenWindows", "bundled_corpus_path", "read_corpus", "read_text", "split_ids"]

"""Evaluation: loss, perplexity and bits per byte on held-out text."""

from .perplexity import EvalResult, evaluate_windows, token_byte_lengths

__all__ = ["EvalResult", "evaluate_windows", "token_byte_lengths"]

"""Evaluation: loss, perplexity (and later bits per byte) on held-out text."""

from .perplexity import EvalResult, evaluate_windows

__all__ = ["EvalResult", "evaluate_windows"]

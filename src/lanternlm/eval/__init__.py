"""Evaluation: loss, perplexity and bits per byte on held-out text; masked-token loss and accuracy for encoders."""

from .masked import MaskedEvalResult, evaluate_masked
from .perplexity import EvalResult, evaluate_windows, token_byte_lengths

__all__ = ["EvalResult", "MaskedEvalResult", "evaluate_masked", "evaluate_windows", "token_byte_lengths"]

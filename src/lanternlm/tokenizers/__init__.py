"""Text -> tokens: the `Tokenizer` contract and its implementations."""

from .base import Tokenizer, load_tokenizer
from .char import CharTokenizer

__all__ = ["Tokenizer", "CharTokenizer", "load_tokenizer"]

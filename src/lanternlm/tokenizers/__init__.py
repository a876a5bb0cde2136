"""Text -> tokens: the `Tokenizer` contract and its implementations."""

from .base import Tokenizer, load_tokenizer
from .bpe import BPETokenizer
from .char import CharTokenizer

__all__ = ["Tokenizer", "BPETokenizer", "CharTokenizer", "load_tokenizer"]

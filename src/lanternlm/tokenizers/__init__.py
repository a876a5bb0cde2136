"""Text -> tokens: the `Tokenizer` contract and its implementations."""

from .base import Tokenizer, load_tokenizer
from .bpe import BPETokenizer
from .char import CharTokenizer
from .pair import PairTokenizer
from .word import WordTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = ["Tokenizer", "BPETokenizer", "CharTokenizer", "PairTokenizer", "WordTokenizer", "WordPieceTokenizer",
           "load_tokenizer"]

"""Model families. `build_model(config)` returns the network a config describes."""

from ..config import ModelConfig
from ..errors import LanternError
from .base import IGNORE_INDEX, LanguageModel, pad_sequences
from .encoder import BERT, EncoderOutput
from .gpt import GPT, LMOutput
from .seq2seq import EncoderDecoder, Seq2SeqOutput

FAMILIES = {"gpt": GPT, "bert": BERT, "seq2seq": EncoderDecoder}  # decoder-only, encoder-only, encoder–decoder


def build_model(config: ModelConfig) -> LanguageModel:
    """The network `config` describes (validated where it entered: a preset, a config file, --set or the API)."""
    if config.vocab_size <= 0:
        raise LanternError("model.vocab_size must be set (it comes from the tokenizer)")
    if config.family not in FAMILIES:
        raise LanternError(f"unknown model family {config.family!r}; available: {', '.join(FAMILIES)}")
    return FAMILIES[config.family](config)


__all__ = ["GPT", "LMOutput", "BERT", "EncoderOutput", "EncoderDecoder", "Seq2SeqOutput", "IGNORE_INDEX",
           "LanguageModel", "build_model", "pad_sequences", "FAMILIES"]

"""Model families. `build_model(config)` returns the network a config describes."""

from ..config import ModelConfig
from ..errors import LanternError
from ..nn.quantized import quantize_linears
from .base import IGNORE_INDEX, LanguageModel, TracePoint, check_reads_one_text, pad_sequences
from .encoder import BERT, EncoderOutput
from .gpt import GPT, LMOutput
from .mlp import FixedContextMLP
from .rnn import RecurrentLM
from .seq2seq import EncoderDecoder, Seq2SeqOutput

# model.family: decoder-only GPT, encoder-only BERT, the encoder–decoder; before attention: Bengio's
# fixed-context MLP, a GRU/LSTM
FAMILIES = {"gpt": GPT, "bert": BERT, "seq2seq": EncoderDecoder, "mlp": FixedContextMLP, "rnn": RecurrentLM}


def build_model(config: ModelConfig) -> LanguageModel:
    """The network `config` describes (validated where it entered: a preset, a config file, --set or the API)."""
    if config.vocab_size <= 0:
        raise LanternError("model.vocab_size must be set (it comes from the tokenizer)")
    if config.family not in FAMILIES:
        raise LanternError(f"unknown model family {config.family!r}; available: {', '.join(FAMILIES)}")
    model = FAMILIES[config.family](config)
    if config.quantization == "int8":  # an int8 run: the same model with Int8Linear layers, filled by its weights
        quantize_linears(model, from_weights=False)
    return model


__all__ = ["GPT", "LMOutput", "BERT", "EncoderOutput", "EncoderDecoder", "Seq2SeqOutput", "FixedContextMLP",
           "RecurrentLM", "IGNORE_INDEX", "LanguageModel", "TracePoint", "build_model", "check_reads_one_text",
           "pad_sequences", "FAMILIES"]

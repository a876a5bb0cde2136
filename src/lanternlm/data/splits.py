"""Which tokens a run trains on and which it is judged on: the train / validation split of a run's data.

Three sources, in this order: a `lantern prepare`d directory (`data.data_dir`: a memory-mapped token stream,
or sentence pairs for an encoder–decoder model); a separate validation file (`data.val_input`); else the last
`data.val_fraction` of the training text. The trainer and `lantern eval` both ask here, so a run is always
scored on the split it held out. A bert-family run learns from the same token stream as masked-LM examples
(`data/masked.py`); a classification run (finetune.task = classify) reads labelled JSONL examples instead
(`data/labelled.py`), a chat or preference run conversations or preference pairs (`data/chat.py`).
`training_sampler` picks the order the trainer visits the training examples in: windows of a token stream,
examples in shuffled epochs, or length-bucketed batches of sentence pairs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import RunConfig
from ..errors import LanternError
from ..io import read_text
from ..tokenizers import CharTokenizer, Tokenizer, load_tokenizer
from .chat import ChatExamples, PreferencePairs, dialogue_splits
from .labelled import LabelledExamples, ShuffledExamples, labelled_splits
from .masked import MaskedWindows, masked_split
from .pairs import BucketedPairs, PairSplit, is_pairs_directory, load_pairs
from .text import TokenWindows, read_corpus, split_ids
from .tokenfile import load_prepared
from .windows import WindowSampler, window_sampler


def run_tokenizer(config: RunConfig, texts: list[str]) -> Tokenizer:
    """The tokenizer `data.tokenizer` names: "char" builds one from the text, anything else is a file."""
    if config.data.tokenizer == "char":
        return CharTokenizer.train("".join(texts))
    return load_tokenizer(config.data.tokenizer)


def prepared_splits(data_dir: str | Path, tokenizer: Tokenizer | None = None):
    """(tokenizer, train, val) of a prepared directory (token stream or sentence pairs); `tokenizer`, when
    given, must match its vocabulary."""
    if is_pairs_directory(data_dir):
        data_tokenizer, train_data, val_data, _ = load_pairs(data_dir)
    else:
        train_data, val_data, _ = load_prepared(data_dir)
        data_tokenizer = load_tokenizer(Path(data_dir) / "tokenizer.json")
    if tokenizer is not None and tokenizer.vocab_size != data_tokenizer.vocab_size:
        raise LanternError(f"{data_dir} was prepared with a {data_tokenizer.vocab_size}-token tokenizer but the "
                           f"model uses {tokenizer.vocab_size} tokens")
    return tokenizer or data_tokenizer, train_data, val_data


def load_splits(config: RunConfig, tokenizer: Tokenizer | None = None) -> tuple[Tokenizer, TokenWindows, TokenWindows]:
    """Tokenizer and train/validation windows of a run (the tokenizer is built or loaded when not given)."""
    if config.finetune.task == "classify":
        return (tokenizer, *labelled_splits(config, tokenizer))
    if config.finetune.task in ("chat", "dpo"):
        return (tokenizer, *dialogue_splits(config, tokenizer))
    if config.data.data_dir:
        tokenizer, train_data, val_data = prepared_splits(config.data.data_dir, tokenizer)
        pairs = isinstance(train_data, PairSplit)
        if pairs != (config.model.family == "seq2seq"):
            raise LanternError(f"{config.data.data_dir} holds {'sentence pairs' if pairs else 'a token stream'}, "
                               f"which a {config.model.family} model does not train on (sentence pairs train "
                               f"model.family = \"seq2seq\"; a token stream the others)")
    else:
        text = read_corpus(config.data.input)
        val_text = read_text(config.data.val_input) if config.data.val_input else None
        tokenizer = tokenizer or run_tokenizer(config, [text] + ([val_text] if val_text else []))
        if val_text is None:
            train_data, val_data = split_ids(tokenizer.encode(text), config.data.val_fraction)
        else:
            train_data = TokenWindows.from_text(tokenizer, text, "train")
            val_data = TokenWindows.from_text(tokenizer, val_text, "validation")
    return tokenizer, objective_split(config, tokenizer, train_data), objective_split(config, tokenizer, val_data)


def objective_split(config: RunConfig, tokenizer: Tokenizer, stream: TokenWindows) -> TokenWindows | MaskedWindows:
    """The examples the model family learns from: next-token windows of the stream as they are, or, for the
    bert family, masked-LM windows (masks drawn from train.seed)."""
    if config.model.family != "bert":
        return stream
    return masked_split(stream, tokenizer, config.data.mask_probability, config.train.seed)


def validation_split(config: RunConfig, tokenizer: Tokenizer) -> tuple[str, TokenWindows]:
    """(a description of the source, the validation windows) a run held out, tokenized with its tokenizer."""
    if config.data.data_dir:
        return f"{config.data.data_dir} (validation split)", prepared_splits(config.data.data_dir, tokenizer)[2]
    if config.data.val_input:
        return config.data.val_input, TokenWindows.from_text(tokenizer, read_text(config.data.val_input), "validation")
    return "the run's validation split", split_ids(tokenizer.encode(read_corpus(config.data.input)),
                                                   config.data.val_fraction)[1]


def training_sampler(config: RunConfig, data: TokenWindows | LabelledExamples | PairSplit,
                     generator: torch.Generator) -> WindowSampler | ShuffledExamples | BucketedPairs:
    """The order of the training examples: `data.window_sampling` windows of a token stream, labelled examples
    (or conversations, preference pairs) in shuffled epochs, or sentence pairs in shuffled epochs of
    length-bucketed batches of train.batch_size (all seeded by train.seed)."""
    if isinstance(data, PairSplit):
        return BucketedPairs(data, config.train.batch_size, config.train.seed)
    if isinstance(data, (LabelledExamples, ChatExamples, PreferencePairs)):
        return ShuffledExamples(data, config.train.seed)
    return window_sampler(config.data.window_sampling, data, config.window_size, config.train.seed, generator)

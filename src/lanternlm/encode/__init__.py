"""Using an encoder: fill in masked tokens, embed sentences and search them, compare contextual word vectors.

    embed_sentences(run, texts) -> (N, d) tensor     the Python API (see `encoder.py`)
    fill_masks(encoder, text)                         BERT's fill-in-the-blank (`fill.py`)
    save_index / load_index                           sentence vectors on disk, searched by cosine (`index.py`)
    word_in_context(encoder, sentences, word)         static vs contextual vectors of a word (`contextual.py`)

This stage sits beside generate/: it uses a model through `models/` and its tokenizer, and serve/ and cli/ use it.
"""

from .contextual import WordInContext, word_in_context
from .encoder import TextEncoder, as_encoder, embed_sentences
from .fill import MaskPrediction, fill_masks
from .index import SentenceIndex, check_index_folder, load_index, save_index

__all__ = ["MaskPrediction", "SentenceIndex", "TextEncoder", "WordInContext", "as_encoder", "check_index_folder",
           "embed_sentences", "fill_masks", "load_index", "save_index", "word_in_context"]

"""An encoder run put to use: texts in, one vector per text (or per token) out.

`TextEncoder` holds a bert-family model and its WordPiece tokenizer. A text becomes `[CLS] text [SEP]`, cut to
the model's `max_seq_length` (256 for all-MiniLM-L6-v2) or else its block_size. The model's hidden states are
pooled into one vector per text as its config says (mean over real tokens or the [CLS] position, L2-normalised
or not; `models/encoder.py::pool`).

Length bucketing: texts are sorted by length and batched with their neighbours, so a batch is padded only to
its own longest text and almost no work goes into padding; the vectors are put back in input order. With
texts in input order, a batch of 32 short sentences pads every one to the longest of the 32 (often twice the
mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from ..errors import LanternError
from ..models import LanguageModel, pad_sequences
from ..nn.functional import cosine_similarity
from ..runs import LoadedRun, load_run
from ..tokenizers import Tokenizer


class TextEncoder:
    """Sentence vectors, token vectors and fill-in predictions of an encoder model."""

    def __init__(self, model: LanguageModel, tokenizer: Tokenizer, max_length: int | None = None) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        c = model.config
        self.max_length = max_length or c.max_seq_length or c.block_size
        self.dim = c.n_embd

    def encode(self, text: str, allowed_special=()) -> list[int]:
        """`[CLS] text [SEP]` ids, cut to max_length."""
        return self.tokenizer.encode_for_model(text, max_length=self.max_length, allowed_special=allowed_special)[0]

    @torch.no_grad()
    def hidden_states(self, ids: list[int]) -> torch.Tensor:
        """The last layer's contextual vector of every position of one input, (T, d)."""
        return self.model.hidden_states(torch.tensor([ids], device=self.model.device))[0].float().cpu()

    def batches(self, encoded: Sequence[list[int]], batch_size: int) -> list[list[int]]:
        """The rows of each batch: sorted by length, longest first (the peak memory comes at once, up front)."""
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        return [order[first:first + batch_size] for first in range(0, len(order), batch_size)]

    @torch.no_grad()
    def embed_batch(self, rows: list[list[int]]) -> torch.Tensor:
        """Sentence vectors (B, d) of a batch of inputs, padded to the longest of them."""
        pad_id = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        ids, mask = pad_sequences(rows, self.model.device, pad_id)
        return self.model.sentence_embeddings(ids, mask).float().cpu()

    def embed(self, texts: Sequence[str], batch_size: int = 32,
              on_progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """(N, d) sentence vectors of `texts`, in their order; batches of `batch_size` texts of similar length."""
        encoded = [self.encode(text) for text in texts]
        vectors = torch.empty(len(encoded), self.dim)
        done = 0
        for batch in self.batches(encoded, batch_size):
            vectors[batch] = self.embed_batch([encoded[i] for i in batch])
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(encoded))
        return vectors

    def similarity(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, N) cosine similarities of the texts' sentence vectors."""
        vectors = self.embed(texts)
        return cosine_similarity(vectors, vectors)


def as_encoder(run: str | Path | LoadedRun, device: str | torch.device = "cpu") -> TextEncoder:
    """A `TextEncoder` for a run directory (or a loaded run); a run that is not an encoder is a one-line error."""
    loaded = run if isinstance(run, LoadedRun) else load_run(run, device)
    model, family = loaded.model, loaded.config.model.family
    if not hasattr(model, "sentence_embeddings"):
        raise LanternError(f"{loaded.paths.root} is a {family} model, which reads text left to right to continue it; "
                           "filling in masks and sentence and word vectors need an encoder (model.family = \"bert\"), "
                           "e.g. all-MiniLM-L6-v2 imported with `lantern convert from-hf`")
    if not hasattr(loaded.tokenizer, "encode_for_model"):
        raise LanternError(f"{loaded.paths.root}: an encoder needs a WordPiece tokenizer ([CLS] text [SEP]), not "
                           f"a {loaded.tokenizer.kind} tokenizer")
    return TextEncoder(model, loaded.tokenizer)


def embed_sentences(run: str | Path | LoadedRun, texts: Sequence[str], batch_size: int = 32,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """The Python API: an (N, d) float32 tensor, row i the sentence vector of texts[i], from an encoder run
    (e.g. all-MiniLM-L6-v2 imported with `lantern convert from-hf`: mean-pooled, L2-normalised)."""
    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
        raise TypeError("texts must be a list of strings (one text per vector)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return as_encoder(run, device).embed(list(texts), batch_size)

"""Static vs contextual word vectors: "bank" by a river and "bank" with money.

A static embedding (word2vec, or a transformer's input embedding matrix E) gives a word one vector wherever it
appears: E[bank] is the same row in both sentences, so their cosine is 1. An encoder's last hidden states are
contextual: every position has attended to the whole sentence, so the vector of "bank" carries the river or the
money with it. A word split into several WordPiece pieces ("riverbank" -> river ##bank) is represented by the
mean of its pieces' vectors, in both views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import LanternError
from ..nn.functional import cosine_similarity
from .encoder import TextEncoder


@dataclass
class WordInContext:
    word: str
    pieces: list[str]  # the word's WordPiece tokens
    positions: list[int]  # where the word starts in each sentence's model input ([CLS] is 0)
    contextual: torch.Tensor  # (N, d): per sentence, the mean last-layer vector of the word's pieces
    static: torch.Tensor  # (N, d): per sentence, the mean input-embedding row of the pieces (all rows equal)

    def cosines(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(contextual, static) cosine-similarity matrices between the sentences' vectors of the word."""
        return cosine_similarity(self.contextual, self.contextual), cosine_similarity(self.static, self.static)


def find_word(encoder: TextEncoder, ids: list[int], pieces: list[int]) -> int:
    """The first position where `pieces` stand as a whole word in `ids` (not inside a longer one), or -1."""
    prefix = encoder.tokenizer.continuing_prefix
    for start in range(len(ids) - len(pieces) + 1):
        end = start + len(pieces)
        if ids[start:end] == pieces and (end == len(ids) or
                                         not encoder.tokenizer.token_text(ids[end]).startswith(prefix)):
            return start
    return -1


@torch.no_grad()
def word_in_context(encoder: TextEncoder, sentences: Sequence[str], word: str) -> WordInContext:
    """The contextual and static vectors of `word` in each sentence (its first occurrence in each)."""
    pieces = encoder.tokenizer.encode(word)
    if not word.strip() or not pieces:
        raise LanternError("--word must be a word, e.g. --word bank")
    embedding = encoder.model.token_embeddings().detach().float().cpu()
    contextual, static, positions = [], [], []
    for n, sentence in enumerate(sentences, 1):
        ids = encoder.encode(sentence)
        start = find_word(encoder, ids, pieces)
        if start < 0:
            raise LanternError(f"sentence {n} does not contain the word {word!r} (as the tokenizer splits it: "
                               f"{' '.join(encoder.tokenizer.token_text(i) for i in pieces)})")
        span = slice(start, start + len(pieces))
        contextual.append(encoder.hidden_states(ids)[span].mean(0))
        static.append(embedding[ids[span]].mean(0))
        positions.append(start)
    return WordInContext(word, [encoder.tokenizer.token_text(i) for i in pieces], positions,
                         torch.stack(contextual), torch.stack(static))

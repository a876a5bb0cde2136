"""Sparse text vectors before learning: one-hot, bag of words and TF-IDF, searched by cosine similarity.

* one-hot: word id i -> the vector e_i of length V (all zeros but a 1 at i). Every pair of words is equally far
  apart: the vectors carry identity, not meaning.
* bag of words: a document is the sum of its words' one-hot vectors (counts), or their presence (binary).
  Word order is gone; "dog bites man" = "man bites dog".
* TF-IDF: weight counts by how rare a word is across the N documents, so "the" stops dominating:
      tfidf(t, d) = tf(t, d) * idf(t),   idf(t) = ln((1 + N) / (1 + df(t))) + 1      (smooth idf)
  then scale every document vector to length 1 (l2). This is scikit-learn's TfidfVectorizer default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import LanternError
from ..nn.functional import cosine_similarity
from ..tokenizers.word import WordTokenizer, did_you_mean


def one_hot(ids: Sequence[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(len(ids), vocab_size) matrix: row k is 1 at column ids[k], 0 elsewhere."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    return torch.nn.functional.one_hot(ids, vocab_size).float()


def bag_of_words(docs: Sequence[Sequence[int]], vocab_size: int, binary: bool = False) -> torch.Tensor:
    """(n_docs, vocab_size) counts: row d = sum of the one-hot vectors of doc d's words (1/0 if binary)."""
    counts = torch.zeros(len(docs), vocab_size)
    for row, ids in enumerate(docs):
        counts[row].index_add_(0, torch.as_tensor(list(ids), dtype=torch.long), torch.ones(len(ids)))
    return counts.clamp_(max=1) if binary else counts


def smooth_idf(counts: torch.Tensor) -> torch.Tensor:
    """idf(t) = ln((1 + N) / (1 + df(t))) + 1, df(t) = number of documents containing t."""
    n_docs = counts.shape[0]
    df = (counts > 0).sum(0).float()
    return torch.log((1 + n_docs) / (1 + df)) + 1


def tfidf(counts: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """Rows tf * idf, each scaled to unit l2 length (an all-zero row stays zero)."""
    weighted = counts * idf
    return weighted / weighted.norm(dim=1, keepdim=True).clamp_min(1e-12)


@dataclass
class Match:
    index: int
    score: float
    text: str


class TfidfIndex:
    """TF-IDF vectors of a document collection, searchable by the cosine similarity to a query."""

    def __init__(self, documents: Sequence[str], tokenizer: WordTokenizer | None = None) -> None:
        texts = list(documents)
        if not texts:
            raise LanternError("TF-IDF needs at least one document")
        self.documents = texts
        self.tokenizer = tokenizer or WordTokenizer.train(texts, min_count=1)
        # <unk> (id 0) is not a word: out-of-vocabulary words are dropped from documents and queries alike.
        self.counts = bag_of_words([self._known(t) for t in texts], self.tokenizer.vocab_size)
        self.idf = smooth_idf(self.counts)
        self.idf[0] = 0
        self.vectors = tfidf(self.counts, self.idf)

    def _known(self, text: str) -> list[int]:
        return [i for i in self.tokenizer.encode(text) if i != 0]

    def vector(self, text: str) -> torch.Tensor:
        """TF-IDF vector of a new text; words the collection never saw carry no weight."""
        return tfidf(bag_of_words([self._known(text)], self.tokenizer.vocab_size), self.idf)[0]

    def search(self, query: str, top: int = 5) -> list[Match]:
        """The `top` documents with the highest cosine similarity to `query` (ties: earlier document first)."""
        ids = self._known(query)
        if not ids:
            words = self.tokenizer.split(query)
            if not words:
                raise LanternError("the query has no words")
            raise LanternError(f"none of the query words ({', '.join(words[:5])}) occurs in the documents"
                               f"{did_you_mean(words[0], self.tokenizer.words[1:])}")
        sims = cosine_similarity(self.vector(query)[None], self.vectors)[0]
        order = sorted(range(len(sims)), key=lambda i: (-float(sims[i]), i))[:top]
        return [Match(i, float(sims[i]), self.documents[i]) for i in order]

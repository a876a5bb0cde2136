"""Intrinsic evaluation of word vectors, as in the word2vec papers.

* Analogies (Google's questions-words.txt): "a b c d" means a : b :: c : d. The answer is the word nearest by
  cosine to b - a + c (unit vectors, "3CosAdd"), the three question words excluded; accuracy by section.
  Questions with a word outside the vocabulary are skipped and counted, never silently dropped.
* Word similarity (WordSim353): Spearman's rank correlation between human scores and cosine similarities,
  rho = Pearson correlation of the ranks (ties get their average rank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import LanternError
from ..io import read_text
from ..nn.functional import cosine_similarity
from .vectors import WordVectors

CHUNK = 1024  # questions scored per matrix product


@dataclass
class Section:
    name: str
    correct: int = 0
    total: int = 0  # questions answered (all four words known)
    skipped: int = 0  # questions with an out-of-vocabulary word

    @property
    def semantic(self) -> bool:
        return not self.name.startswith("gram")  # the file's own convention: gram1-..gram9- are syntactic

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class AnalogyResult:
    sections: list[Section] = field(default_factory=list)

    def summary(self, name: str, keep=lambda s: True) -> Section:
        chosen = [s for s in self.sections if keep(s)]
        return Section(name, sum(s.correct for s in chosen), sum(s.total for s in chosen),
                       sum(s.skipped for s in chosen))

    @property
    def overall(self) -> Section:
        return self.summary("total")


@dataclass
class SimilarityResult:
    spearman: float
    pairs: int
    skipped: int


def _read_lines(path: str | Path) -> list[str]:
    return read_text(path, "evaluation file").splitlines()


def read_analogies(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Sections of (a, b, c, d) questions, lower-cased; section lines start with ': '."""
    sections: list[tuple[str, list]] = []
    for n, line in enumerate(_read_lines(path), 1):
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
        elif line.strip():
            words = line.lower().split()
            if len(words) != 4 or not sections:
                raise LanternError(f"{path}: line {n} is not 'a b c d' under a ': section' line")
            sections[-1][1].append(tuple(words))
    if not sections:
        raise LanternError(f"{path}: no analogy questions found")
    return sections


def analogy_accuracy(wv: WordVectors, path: str | Path) -> AnalogyResult:
    """Answer every in-vocabulary question with 3CosAdd; count correct answers by section."""
    unit = wv.unit()
    result = AnalogyResult()
    for name, questions in read_analogies(path):
        known = [q for q in questions if all(w in wv.index for w in q)]
        section = Section(name, total=len(known), skipped=len(questions) - len(known))
        for i in range(0, len(known), CHUNK):
            idx = torch.tensor([[wv.index[w] for w in q] for q in known[i:i + CHUNK]])
            target = unit[idx[:, 1]] - unit[idx[:, 0]] + unit[idx[:, 2]]
            sims = cosine_similarity(target, wv.vectors)
            sims.scatter_(1, idx[:, :3], -float("inf"))  # the question words are never the answer
            section.correct += int((sims.argmax(1) == idx[:, 3]).sum())
        result.sections.append(section)
    return result


def rank(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = torch.argsort(values, stable=True)
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = torch.arange(1, len(values) + 1, dtype=torch.float64)
    _, inverse = torch.unique(values, return_inverse=True)
    mean = torch.zeros(int(inverse.max()) + 1, dtype=torch.float64).index_add_(0, inverse, ranks)
    return (mean / torch.bincount(inverse).double())[inverse]


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's rho: the Pearson correlation of the ranks of x and y."""
    rx, ry = rank(x.double()), rank(y.double())
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()).clamp_min(1e-12))


def word_similarity(wv: WordVectors, path: str | Path) -> SimilarityResult:
    """Spearman correlation with a `word1<TAB>word2<TAB>score` file ('#' lines are comments); NaN when fewer
    than 2 pairs have both words in the vocabulary."""
    gold, model, skipped = [], [], 0
    for n, line in enumerate(_read_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.lower().split("\t")
        try:
            a, b, score = parts[0], parts[1], float(parts[2])
        except (IndexError, ValueError):
            raise LanternError(f"{path}: line {n} is not 'word1<TAB>word2<TAB>score'") from None
        if a in wv.index and b in wv.index:
            gold.append(score)
            model.append(wv.similarity(a, b))
        else:
            skipped += 1
    if len(gold) < 2:  # no correlation to speak of
        return SimilarityResult(float("nan"), len(gold), skipped)
    return SimilarityResult(spearman(torch.tensor(gold), torch.tensor(model)), len(gold), skipped)

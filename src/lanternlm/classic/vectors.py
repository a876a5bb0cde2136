"""Static word vectors: one row per word, looked up by name, compared by cosine similarity.

`WordVectors` is the small cousin of gensim's KeyedVectors: nearest neighbours, analogies by vector offset
(king - man + woman ~ queen, "3CosAdd") and the word2vec C file formats, text and binary, that the Google News
vectors use and gensim reads and writes:

    text:    "<count> <dim>\\n" then one line per word: "word v1 v2 ... vdim\\n"
    binary:  "<count> <dim>\\n" then per word: b"word " + dim little-endian float32 (+ an optional b"\\n")
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import LanternError
from ..io import atomic_path, check_readable
from ..nn.functional import cosine_similarity
from ..tokenizers.word import did_you_mean


class WordVectors:
    """`vectors[i]` is the embedding of `words[i]`; words are usually ordered most frequent first."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor | np.ndarray) -> None:
        self.words = list(words)
        self.vectors = torch.as_tensor(vectors, dtype=torch.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise LanternError(f"{len(self.words)} words but vectors of shape {tuple(self.vectors.shape)}")
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise LanternError("duplicate words in the vocabulary")

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def index_of(self, word: str) -> int:
        """Row of `word`; an unknown word is a LanternError that suggests close spellings from the vocabulary."""
        if word in self.index:
            return self.index[word]
        hint = did_you_mean(word, self.words)
        raise LanternError(f"word {word!r} is not in the vocabulary ({len(self):,} words){hint}")

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self.index_of(word)]

    def similarity(self, a: str, b: str) -> float:
        return float(cosine_similarity(self[a][None], self[b][None])[0, 0])

    def nearest(self, query: torch.Tensor, topn: int = 10, exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The `topn` words whose vectors have the highest cosine with `query`, skipping `exclude`."""
        sims = cosine_similarity(query.float()[None], self.vectors)[0]
        for word in exclude:
            if word in self.index:
                sims[self.index[word]] = -float("inf")
        best = torch.topk(sims, min(topn, len(self) - len(set(exclude) & self.index.keys())))
        return [(self.words[i], float(s)) for s, i in zip(best.values.tolist(), best.indices.tolist())]

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """Nearest neighbours of a word (the word itself excluded)."""
        return self.nearest(self[word], topn, exclude=[word])

    def unit(self) -> torch.Tensor:
        """All vectors scaled to length 1 (so a dot product is a cosine)."""
        return self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def analogy_query(self, positive: Sequence[str], negative: Sequence[str]) -> torch.Tensor:
        """3CosAdd target: sum of the unit vectors of `positive` minus those of `negative`."""
        unit = self.unit()
        rows = [unit[self.index_of(w)] for w in positive] + [-unit[self.index_of(w)] for w in negative]
        return torch.stack(rows).sum(0)

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """a - b + c: "king man woman" asks "king is to man as ? is to woman" (~ queen).

        The three query words are excluded from the answers: otherwise the nearest vector is nearly always
        `a` or `c` itself, since b and c are usually close to each other.
        """
        return self.nearest(self.analogy_query([a, c], [b]), topn, exclude=[a, b, c])

    # ---- word2vec C formats -------------------------------------------------------------------------------

    def save(self, path: str | Path, binary: bool | None = None) -> None:
        """Write the word2vec text format (or binary: `binary=True`, or a path ending in .bin), atomically."""
        path = Path(path)
        binary = path.suffix == ".bin" if binary is None else binary
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise LanternError(f"word {w!r} cannot be saved in word2vec format (empty or contains whitespace)")
        array = self.vectors.numpy().astype("<f4")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(f"{len(self)} {self.dim}\n".encode())
            if binary:
                for word, row in zip(self.words, array):
                    fh.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                # %.9g prints every float32 exactly (9 significant digits always round-trip).
                fmt = " ".join(["%.9g"] * self.dim)
                for word, row in zip(self.words, array.tolist()):
                    fh.write(f"{word} {fmt % tuple(row)}\n".encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path, binary: bool | None = None) -> "WordVectors":
        """Read a word2vec text or binary file (binary=None: detect); any malformation is a one-line error."""
        path = check_readable(path, "vector file")
        data = path.read_bytes()
        if not data.strip():
            raise LanternError(f"{path}: the vector file is empty")
        end = data.find(b"\n")
        try:
            count, dim = (int(x) for x in data[:end if end >= 0 else None].split())
            if count < 0 or dim <= 0:
                raise ValueError
        except ValueError:
            raise LanternError(f"{path}: not a word2vec file (the first line must be '<count> <dim>')") from None
        body = data[end + 1:]
        if binary is None:
            binary = _looks_binary(body[:65536])
        words, vectors = (_parse_binary if binary else _parse_text)(body, count, dim, path)
        if len(set(words)) != len(words):
            raise LanternError(f"{path}: the same word appears twice")
        return cls(words, vectors)


def pca_2d(matrix: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Project rows on the 2 directions of largest variance: centre, SVD X = U S V^T, keep U[:, :2] S[:2].

    Returns the (n, 2) points and the share of the total variance each axis explains.
    """
    centred = matrix.double() - matrix.double().mean(0)
    if centred.shape[0] < 2 or centred.shape[1] < 2:
        raise LanternError("PCA to 2-D needs at least 2 vectors of at least 2 dimensions")
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    share = (s[:2] ** 2 / (s ** 2).sum().clamp_min(1e-30)).tolist()
    return (u[:, :2] * s[:2]).float(), share


def _looks_binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte character cut at the end of the sample is still text
    return False


def _parse_text(body: bytes, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    try:
        lines = body.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LanternError(f"{path}: not UTF-8 text (byte {exc.start}); pass --binary for a binary file") from None
    lines = [line for line in lines if line.strip()]
    if len(lines) != count:
        raise LanternError(f"{path}: the header announces {count} vectors but the file has {len(lines)}")
    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    for i, line in enumerate(lines):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise LanternError(f"{path}: line {i + 2} has {len(parts) - 1} values, expected {dim}")
        try:
            vectors[i] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise LanternError(f"{path}: line {i + 2} has a value that is not a number") from None
        words.append(parts[0])
    return words, vectors


def _parse_binary(body: bytes, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    words, vectors, pos, width = [], np.empty((count, dim), dtype=np.float32), 0, 4 * dim
    for i in range(count):
        while pos < len(body) and body[pos:pos + 1] == b"\n":  # the C tool ends each vector with a newline
            pos += 1
        space = body.find(b" ", pos)
        if space < 0 or space + 1 + width > len(body):
            raise LanternError(f"{path}: truncated binary file: vector {i + 1} of {count} is incomplete")
        try:
            words.append(body[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise LanternError(f"{path}: word {i + 1} is not UTF-8; is this a text file? (try --text)") from None
        vectors[i] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    if body[pos:].strip():
        raise LanternError(f"{path}: {len(body) - pos} unexpected bytes after the {count} vectors")
    return words, vectors

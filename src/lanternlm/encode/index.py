"""A sentence index: the vectors of many texts, kept on disk, searched by cosine similarity.

    VECS/
      header.json          {"format": "lantern-sentence-vectors", "version": 1, "count": N, "dim": d,
                            "model": the run that embedded them, "pooling", "normalized", "max_length"}
      vectors.safetensors  "vectors": (N, d) float32, row i = text i
      texts.jsonl          line i: text i as a JSON string (any character, newlines included, stays one line)

Why not the word2vec format of `classic/vectors.py`: its rows are keyed by a word without spaces, one row per
distinct word, written as decimal text; sentences have spaces and repeat, and N x d float32 read through
safetensors (the format of Lantern's weights) loads without parsing and without pickle. The header records the
model, since vectors from two models live in unrelated spaces: search refuses a query of another dimension.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import LanternError
from ..io import atomic_directory, check_writable, iter_lines, read_versioned_json, write_json_atomic
from ..nn.functional import cosine_similarity

FORMAT_NAME = "lantern-sentence-vectors"
FORMAT_VERSION = 1
HEADER, VECTORS, TEXTS = "header.json", "vectors.safetensors", "texts.jsonl"


@dataclass
class SentenceIndex:
    texts: list[str]
    vectors: torch.Tensor  # (N, d)
    header: dict

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def search(self, query: torch.Tensor, top: int = 5) -> list[tuple[int, float]]:
        """(row, cosine) of the `top` texts most similar to the query vector (d,), best first."""
        if query.shape[-1] != self.dim:
            raise LanternError(f"the index holds {self.dim}-dimensional vectors (made with {self.header.get('model')}) "
                               f"but the query vector has {query.shape[-1]}; search with the model that made it")
        scores = cosine_similarity(query.float()[None], self.vectors)[0]
        best = scores.topk(min(top, len(scores)))
        return list(zip(best.indices.tolist(), best.values.tolist()))


def check_index_folder(out: str | Path, force: bool) -> None:
    """`out` may be written: absent or empty, or an index (replaced only with `force`); never anything else."""
    out = Path(out)
    check_writable(out, folder=True)
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / HEADER).is_file():
        raise LanternError(f"{out} is a folder that does not hold a sentence index; refusing to replace it")
    if not force:
        raise LanternError(f"{out} already holds a sentence index; replace it with --force")


def save_index(out: str | Path, texts: list[str], vectors: torch.Tensor, model: str, config) -> None:
    """Write texts and their (N, d) vectors as an index folder (atomically: the old one or the new one)."""
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "count": len(texts), "dim": int(vectors.shape[1]),
              "model": model, "pooling": config.pooling, "normalized": config.normalize_embeddings,
              "max_length": config.max_seq_length or config.block_size}
    with atomic_directory(out) as tmp:
        save_file({"vectors": vectors.float().contiguous()}, str(tmp / VECTORS))
        (tmp / TEXTS).write_text("".join(json.dumps(text, ensure_ascii=False) + "\n" for text in texts),
                                 encoding="utf-8")
        write_json_atomic(tmp / HEADER, header)


def load_index(folder: str | Path) -> SentenceIndex:
    folder = Path(folder)
    if not (folder / HEADER).is_file():
        raise LanternError(f"{folder}: not a sentence index (no {HEADER}; make one with `lantern embed sentences`)")
    header = read_versioned_json(folder / HEADER, FORMAT_NAME, FORMAT_VERSION, "sentence index")
    lines = list(iter_lines(folder / TEXTS, "index texts file"))
    try:
        vectors = load_file(str(folder / VECTORS))["vectors"]
        texts = [json.loads(line) for line in lines]
    except Exception as exc:  # safetensors and json raise their own types for damaged files
        raise LanternError(f"{folder}: damaged sentence index ({exc.__class__.__name__}: {exc})") from None
    if vectors.ndim != 2 or len(texts) != len(vectors) or len(texts) != header.get("count"):
        raise LanternError(f"{folder}: damaged sentence index ({len(texts)} texts, vectors {tuple(vectors.shape)}, "
                           f"header count {header.get('count')})")
    return SentenceIndex(texts, vectors, header)

"""What the playground shows from inside a model: tokens, the next-token distribution, attention, embeddings.

Pure functions over a loaded model and tokenizer, returning JSON-ready dicts:

- tokens: the ids text becomes, and the text each id stands for;
- next token: p(next | text) = softmax(z / T) at a temperature T, the top tokens and the entropy H = -Σ p log2 p;
- attention: every layer's and head's weights softmax(q·k / sqrt(d)) over the text's tokens (causal, T x T;
  an encoder–decoder shows its encoder's, bidirectional, over the source text);
- translation (an encoder–decoder): the translation and its alignment, every decoder layer's and head's
  cross-attention weights (target tokens x source tokens);
- embeddings: rows of the token embedding matrix E (|V| x d) compared by cosine similarity: nearest
  neighbours of a token, analogies by 3CosAdd (b - a + c, as with word vectors) and a 2-D PCA projection.
"""

from __future__ import annotations

import time

import torch

from ..classic.vectors import WordVectors, pca_2d
from ..data.pairs import source_tokenizer, start_token
from ..errors import LanternError
from ..generate import Engine, GenerationConfig
from ..generate.translate import alignment, translate
from ..models import LanguageModel
from ..tokenizers import Tokenizer


def token_list(tokenizer: Tokenizer, ids: list[int]) -> list[dict]:
    return [{"id": i, "text": tokenizer.token_text(i)} for i in ids]


def tokenize(tokenizer: Tokenizer, text: str) -> dict:
    ids = tokenizer.encode(text)
    return {"tokens": token_list(tokenizer, ids), "count": len(ids), "characters": len(text),
            "bytes": len(text.encode("utf-8"))}


def next_token(engine: Engine, text: str, temperature: float, top: int) -> dict:
    """The `top` most likely next tokens at temperature T (> 0, checked by the request), with the distribution's
    entropy in bits."""
    probs = engine.next_token_probs(engine.tokenizer.encode(text), temperature)
    entropy = float(-(probs * torch.log2(probs.clamp_min(1e-30))).sum())
    values, ids = probs.topk(min(top, probs.numel()))
    tokens = token_list(engine.tokenizer, ids.tolist())
    for token, p in zip(tokens, values.tolist()):
        token["prob"] = p
    return {"tokens": tokens, "entropy_bits": entropy, "vocab_size": probs.numel(), "temperature": temperature}


@torch.no_grad()
def attention(model: LanguageModel, tokenizer: Tokenizer, text: str, max_tokens: int) -> dict:
    """Attention weights of every layer and head over the last `max_tokens` tokens (and the model's window).

    `layers[l][h][i][j]` is how much token i attends to token j in head h of layer l (each row sums to 1;
    in a causal model j > i is 0)."""
    ids = source_tokenizer(tokenizer).encode(text)  # an encoder–decoder's attention_maps read a source
    shown = ids[-min(max_tokens, model.config.block_size):]
    maps = model.eval().attention_maps(torch.tensor([shown], device=model.device))
    layers = [[[[round(w, 4) for w in row] for row in head] for head in layer[0].float().cpu().tolist()]
              for layer in maps]
    return {"tokens": token_list(tokenizer, shown), "truncated": len(ids) - len(shown), "layers": layers,
            "n_layer": len(layers), "n_head": len(layers[0]) if layers else 0}


def translation(engine: Engine, text: str, beam: int) -> dict:
    """Translate `text` (greedy, or beam search with `beam` beams) and return the alignment:
    `layers[l][h][t][s]` is how much target token t (its last row: the end token) attended to source token s
    in head h of decoder layer l; each row sums to 1."""
    config = GenerationConfig(max_new_tokens=engine.block_size, temperature=0.0, num_beams=beam)
    started = time.perf_counter()
    result = translate(engine, [text], config)[0]
    seconds = time.perf_counter() - started
    weights = alignment(engine, result)
    layers = [[[[round(w, 4) for w in row] for row in head] for head in layer] for layer in weights.tolist()]
    return {"source": text, "translation": result.text, "beam": beam, "seconds": seconds,
            "source_tokens": token_list(source_tokenizer(engine.tokenizer), result.source_ids),
            "target_tokens": token_list(engine.tokenizer, result.target_ids + [start_token(engine.tokenizer)]),
            "layers": layers, "n_layer": len(layers), "n_head": len(layers[0]) if layers else 0}


class EmbeddingSpace:
    """The token embedding matrix as word vectors keyed by token id (token texts need not be unique)."""

    def __init__(self, embedding_matrix: torch.Tensor, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        weight = embedding_matrix.detach().float().cpu()
        self.vectors = WordVectors([str(i) for i in range(weight.shape[0])], weight)

    def token_id(self, token: str | int, field: str) -> int:
        """A token given by id, or by text that must be exactly one token."""
        if isinstance(token, int):
            self.tokenizer.check_ids([token])
            return token
        if token in self.tokenizer.special_tokens:
            return self.tokenizer.special_tokens[token]
        ids = self.tokenizer.encode(token)
        if len(ids) != 1:
            raise LanternError(f"{field}: {token!r} is {len(ids)} tokens; give text that is exactly one token")
        return ids[0]

    def _answers(self, hits: list[tuple[str, float]]) -> list[dict]:
        return [{"id": int(i), "text": self.tokenizer.token_text(int(i)), "similarity": s} for i, s in hits]

    def neighbours(self, token: str | int, k: int) -> dict:
        """The k rows of E with the highest cosine similarity to the token's row (the token itself excluded)."""
        tid = self.token_id(token, "token")
        return {"token": token_list(self.tokenizer, [tid])[0],
                "neighbours": self._answers(self.vectors.most_similar(str(tid), k))}

    def analogy(self, a: str | int, b: str | int, c: str | int, k: int) -> dict:
        """a is to b as c is to ?: nearest rows to unit(b) - unit(a) + unit(c), excluding a, b and c (3CosAdd)."""
        ids = [self.token_id(t, name) for t, name in ((a, "a"), (b, "b"), (c, "c"))]
        a_id, b_id, c_id = (str(i) for i in ids)
        query = self.vectors.analogy_query([b_id, c_id], [a_id])
        return {"query": token_list(self.tokenizer, ids),
                "answers": self._answers(self.vectors.nearest(query, k, exclude=[a_id, b_id, c_id]))}

    def projection(self, count: int) -> dict:
        """The first `count` token embeddings projected on their 2 principal components."""
        n = min(count, len(self.vectors))
        points, share = pca_2d(self.vectors.vectors[:n])
        return {"points": [{"id": i, "text": self.tokenizer.token_text(i), "x": x, "y": y}
                           for i, (x, y) in enumerate(points.tolist())],
                "explained_variance": share}

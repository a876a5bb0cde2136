"""What the playground's "look inside" panels show, as pure functions returning JSON-ready dicts:

- pipeline: the trace of one forward pass (`inspect/trace.py`): every stage with its shape;
- temperatures: p = softmax(z / T) at several T side by side, each with its entropy H = −Σ p log₂ p;
- greedy steps: the one decoding loop at temperature 0, step by step, with the top candidates of each step;
- token losses: −log p of every token of a text, their running mean (the cross-entropy), perplexity, bits/byte;
- BPE merges: a byte-level BPE trained on the typed text, one merge at a time with the pair counts behind it;
- context cost: KV-cache bytes and attention FLOPs per token as the context grows, for a model and the presets;
- word vectors: neighbours and analogies in a word2vec vector file served beside the runs.
"""

from __future__ import annotations

import math
from collections import Counter

import torch

from ..classic.vectors import WordVectors
from ..config import ModelConfig, load_preset, preset_names
from ..data import TokenWindows
from ..eval import evaluate_windows, token_byte_lengths
from ..generate import Engine, GenerationConfig
from ..inspect.params import attention_flops_per_token, cache_bytes, flops_per_token
from ..inspect.trace import trace
from ..models import LanguageModel, check_reads_one_text
from ..tokenizers import Tokenizer
from ..tokenizers.bpe import BPETokenizer
from ..tokenizers.bpe_train import learn_merges
from ..tokenizers.pretokenize import pre_split
from .lens import token_list

PRESET_VOCAB = 65  # a preset whose vocabulary comes from its tokenizer is sized with Tiny Shakespeare's characters


def pipeline(model: LanguageModel, tokenizer: Tokenizer, text: str, temperature: float, top: int) -> dict:
    return trace(model, tokenizer, text, temperature, top).to_dict()


def entropy_bits(probs: torch.Tensor) -> float:
    return float(-(probs * torch.log2(probs.clamp_min(1e-30))).sum())


def temperatures(engine: Engine, text: str, values: list[float], top: int) -> dict:
    """The next-token distribution of one prompt at each temperature: its top tokens and entropy."""
    ids = engine.tokenizer.encode(text)
    panels = []
    for t in values:
        probs = engine.next_token_probs(ids, t)
        p, best = probs.topk(min(top, probs.numel()))
        tokens = [{**tok, "prob": v} for tok, v in zip(token_list(engine.tokenizer, best.tolist()), p.tolist())]
        panels.append({"temperature": t, "entropy_bits": entropy_bits(probs), "tokens": tokens})
    return {"distributions": panels, "vocab_size": engine.model.config.vocab_size,
            "uniform_bits": math.log2(engine.model.config.vocab_size)}


def greedy_steps(engine: Engine, text: str, steps: int, top: int) -> dict:
    """Greedy decoding through `Engine.steps` (temperature 0) with the `top` most likely tokens of each step:
    the chosen token is always the first candidate. Log-probabilities come from the loop itself."""
    prompt = engine.tokenizer.encode(text)
    config = GenerationConfig(max_new_tokens=steps, temperature=0, top_logprobs=top, stop_tokens=())
    rows, context = [], list(prompt)
    for step in engine.steps([prompt], config):
        chosen = int(step.ids[0])
        candidates = token_list(engine.tokenizer, step.top_ids[0].tolist())
        for candidate, logprob in zip(candidates, step.top_logprobs[0].tolist()):
            candidate["prob"] = math.exp(logprob)
        rows.append({"step": len(rows) + 1, "context": engine.tokenizer.decode(context[-24:]),
                     "candidates": candidates, "chosen": {**token_list(engine.tokenizer, [chosen])[0],
                                                          "prob": math.exp(float(step.logprobs[0]))}})
        context.append(chosen)
    return {"prompt": text, "rows": rows, "text": engine.tokenizer.decode(context[len(prompt):])}


def token_losses(model: LanguageModel, tokenizer: Tokenizer, text: str) -> dict:
    """−log p of every token after the first (scored like `lantern eval`: windows of block_size)."""
    check_reads_one_text(model, "the token loss view")
    ids = tokenizer.encode(text)
    data = TokenWindows(torch.tensor(ids, dtype=torch.long), "text")
    data.check_fits(1)  # a first token to read and at least one to predict
    scored: list[tuple[int, float]] = []
    result = evaluate_windows(model, data, model.config.block_size,
                              token_byte_lengths(tokenizer), device=model.device,
                              on_scored=lambda i, nll: scored.extend(zip(i.tolist(), nll.tolist())))
    rows, total = [], 0.0
    for n, (token_id, nll) in enumerate(scored, 1):
        total += nll
        rows.append({**token_list(tokenizer, [token_id])[0], "prob": math.exp(-nll), "nll": nll,
                     "running_mean": total / n})
    return {"first": token_list(tokenizer, ids[:1])[0], "tokens": rows, "loss": result.loss,
            "perplexity": result.perplexity, "bits_per_byte": result.bits_per_byte}


def _pair_counts(words: dict[tuple[int, ...], int]) -> Counter:
    counts: Counter = Counter()
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] += freq
    return counts


def _merge(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out, i = [], 0
    while i < len(word):
        if word[i:i + 2] == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def bpe_merges(text: str, merges: int, top_pairs: int = 8, pattern: str = "gpt2") -> dict:
    """Train byte-level BPE on `text` (`learn_merges`, the real trainer), then replay its merges one at a time:
    before each, the pair counts recounted from scratch (the top `top_pairs`), and after it, the text's tokens
    (encoded by a `BPETokenizer` holding the merges so far)."""
    chunks = Counter(chunk.encode("utf-8") for chunk in pre_split(text, pattern))
    learned = learn_merges(chunks, merges)
    vocab = [bytes([b]) for b in range(256)]
    words = {tuple(chunk): freq for chunk, freq in chunks.items()}

    def show(token_id: int) -> str:
        return vocab[token_id].decode("utf-8", errors="replace")

    steps = [{"rank": 0, "tokens": [show(i) for i in BPETokenizer([], pattern).encode(text)]}]
    for rank, (a, b) in enumerate(learned, 1):
        counts = _pair_counts(words)
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:top_pairs]
        vocab.append(vocab[a] + vocab[b])
        words = {_merge(w, (a, b), len(vocab) - 1): f for w, f in words.items()}
        steps.append({"rank": rank, "pair": [show(a), show(b)], "count": counts[(a, b)], "token": show(len(vocab) - 1),
                      "top_pairs": [{"pair": [show(x), show(y)], "count": c} for (x, y), c in ranked],
                      "tokens": [show(i) for i in BPETokenizer(learned[:rank], pattern).encode(text)]})
    return {"chunks": sum(chunks.values()), "steps": steps}


def context_cost(config: ModelConfig, dtype: str = "float32") -> dict:
    """Per context length T (powers of two up to the model's block_size): the bytes generation keeps (the KV
    cache, an RNN's state) and the FLOPs of one new token (2N + attention 4·L·T·d)."""
    contexts = sorted({min(2 ** k, config.block_size) for k in range(int(math.log2(config.block_size)) + 2)})
    return {"family": config.family, "block_size": config.block_size,
            "points": [{"context": T, "cache_bytes": cache_bytes(config, T, dtype),
                        "attention_flops": attention_flops_per_token(config, T),
                        "flops": flops_per_token(config, T)[0]} for T in contexts]}


def preset_costs(dtype: str = "float32") -> dict:
    costs = {}
    for name in preset_names():
        config = load_preset(name).model
        config.vocab_size = config.vocab_size or PRESET_VOCAB
        costs[name] = context_cost(config, dtype)
    return costs


def vector_neighbours(vectors: WordVectors, word: str, k: int) -> dict:
    return {"token": {"text": word}, "neighbours": [{"text": w, "similarity": s} for w, s in
                                                    vectors.most_similar(word, k)]}


def vector_analogy(vectors: WordVectors, a: str, b: str, c: str, k: int) -> dict:
    """a is to b as c is to ?: nearest to unit(b) − unit(a) + unit(c), a, b and c excluded (3CosAdd)."""
    query = vectors.analogy_query([b, c], [a])
    return {"query": [{"text": w} for w in (a, b, c)],
            "answers": [{"text": w, "similarity": s} for w, s in vectors.nearest(query, k, exclude=[a, b, c])]}

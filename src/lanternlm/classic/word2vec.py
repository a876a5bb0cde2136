"""Word2Vec (Mikolov et al. 2013) from scratch: skip-gram and CBOW with negative sampling, in batched PyTorch.

"You shall know a word by the company it keeps": every word w has an input vector v_w (the embedding we keep)
and an output vector u_w. For a (context c, word w) pair and K negative words n_1..n_K drawn from the
unigram^0.75 distribution, negative sampling minimises

    loss = -log sigmoid(u_w . v_c) - sum_k log sigmoid(-u_nk . v_c)

Skip-gram feeds each context word's v_c on its own; CBOW feeds the mean of the window's v_c's.
The word2vec recipe is kept: frequent words are subsampled (kept with probability (sqrt(f/t) + 1) t/f),
the window is shrunk at random for each centre word (so near words count more), words seen < min_count times
are dropped, and the learning rate decays linearly from alpha to min_alpha.

Speed without a Python loop per word: each epoch subsamples with one vectorised draw; consecutive centre words
are taken in batches that share one (shrunken) window size b, so every batch is a dense (n, 2b) matrix of
context ids. As in "HogBatch" (Ji et al. 2016) the K negatives of a centre word are shared by all its context
words, which turns the dot products into small batched matrix products (torch.bmm). Updates are plain sparse
SGD written straight into the two embedding tables with index_add_ (no optimizer, no dense gradient).
Padding contexts (sentence edges) and negatives equal to the centre word point at an all-zero dummy row, whose
dot products contribute nothing to real rows; the dummy row is re-zeroed after every step.

One safeguard that sequential SGD does not need: within a batch all gradients are computed from the same
(stale) vectors and summed, so a very frequent word ("the" is drawn as a negative hundreds of times per batch)
would take hundreds of steps at once with no feedback in between, which overshoots and can diverge. A row that
occurs m > MAX_REPEATS times in a batch therefore has its step scaled by MAX_REPEATS / m; rows seen fewer
times (nearly all of them) get the plain word2vec update.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LanternError
from ..tokenizers.word import WordTokenizer
from .vectors import WordVectors

MAX_SENTENCE = 10_000  # gensim's limit: longer sentences are cut into pieces of this many words
TABLE_SIZE = 10_000_000  # entries of the unigram^0.75 sampling table (word2vec C uses 1e8)
LOSS_EVERY = 25  # batches between two loss measurements for the progress bar
MAX_REPEATS = 32  # a row's step is damped once it occurs more often than this in one batch (see above)
# Largest accepted settings: far past any published recipe (dim 300, window 10, negative 25, 15 epochs)
LIMITS = {"dim": 10_000, "window": 1_000, "negative": 1_000, "epochs": 10_000, "batch": 10**7, "workers": 256}


@dataclass
class Word2VecConfig:
    sg: bool = True  # skip-gram (True) or CBOW (False)
    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3  # subsampling threshold t
    alpha: float = 0.025
    min_alpha: float = 1e-4
    epochs: int = 5
    batch: int = 4096  # context words per SGD step (centre words x 2 x window size)
    workers: int = 2  # torch threads
    seed: int = 1

    def validate(self) -> "Word2VecConfig":
        if self.negative < 1:
            raise LanternError("word2vec needs negative >= 1 (only negative sampling is implemented)")
        for name, top in LIMITS.items():
            if not 1 <= getattr(self, name) <= top:
                raise LanternError(f"word2vec {name} must be between 1 and {top:,}, got {getattr(self, name)}")
        if not 0 < self.min_alpha <= self.alpha <= 1:  # also false for NaN
            raise LanternError(f"need 0 < min_alpha <= alpha <= 1, got {self.min_alpha} and {self.alpha}")
        if not 0 <= self.sample < math.inf:
            raise LanternError(f"sample must be a number >= 0 (0 turns subsampling off), got {self.sample}")
        if not 0 <= self.seed < 2**32:
            raise LanternError(f"seed must be in [0, 2^32), got {self.seed}")
        return self


@dataclass
class Corpus:
    """A corpus as one flat array: `ids[i]` is a vocabulary id (OOV words removed), `sentence[i]` its sentence."""

    ids: np.ndarray
    sentence: np.ndarray
    raw_words: int  # words before OOV removal: the unit of words/s, as in gensim


@dataclass
class TrainStats:
    seconds: float
    raw_words: int
    epochs: int
    final_loss: float

    @property
    def words_per_sec(self) -> float:
        return self.raw_words * self.epochs / max(self.seconds, 1e-9)


def sentences_from_text(text: str, tokenizer: WordTokenizer) -> list[list[str]]:
    """Paragraphs (blank-line separated) as sentences of words, cut to at most MAX_SENTENCE words."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        words = tokenizer.split(paragraph)
        sentences.extend(words[i:i + MAX_SENTENCE] for i in range(0, len(words), MAX_SENTENCE))
    return sentences


def encode_corpus(sentences: Iterable[Sequence[str]], tokenizer: WordTokenizer) -> Corpus:
    stoi, ids, sentence, raw = tokenizer.stoi, [], [], 0
    for k, words in enumerate(sentences):
        known = [i for i in (stoi.get(w, 0) for w in words) if i]
        raw += len(words)
        ids.extend(known)
        sentence.extend([k] * len(known))
    if len(ids) < 2:
        raise LanternError(f"the corpus has {len(ids)} in-vocabulary word(s); word2vec needs text to learn from")
    return Corpus(np.asarray(ids, dtype=np.int64), np.asarray(sentence, dtype=np.int64), raw)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: P(keep w) = (sqrt(f_w / t) + 1) * t / f_w, capped at 1 (f_w = count / total)."""
    if sample <= 0:
        return np.ones_like(counts, dtype=np.float64)
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(counts / threshold) + 1) * threshold / counts
    return np.minimum(keep, 1.0)


def unigram_table(counts: np.ndarray, power: float = 0.75, size: int = TABLE_SIZE) -> np.ndarray:
    """A table where word w fills a share count_w^0.75 / sum count^0.75 of the slots: uniform index = a draw."""
    weights = counts.astype(np.float64) ** power
    bounds = np.round(np.cumsum(weights) / weights.sum() * size).astype(np.int64)
    return np.repeat(np.arange(len(counts), dtype=np.int32), np.diff(bounds, prepend=0))  # 40 MB at 1e7 slots


def negative_sampling_loss(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """-log sigmoid(s_true) - sum_k log sigmoid(-s_k), summed; scores[..., 0] is the true word's score."""
    terms = torch.cat([F.logsigmoid(scores[..., :1]), F.logsigmoid(-scores[..., 1:])], dim=-1)
    return -(terms * mask).sum() if mask is not None else -terms.sum()


def sgns_gradients(inputs: torch.Tensor, outputs: torch.Tensor, scale_v: float | torch.Tensor = 1.0,
                   scale_u: float | torch.Tensor = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Skip-gram negative sampling for a batch of centre words that share their negatives.

    inputs: (n, c, d) context vectors v; outputs: (n, 1+K, d) output vectors u, column 0 the true word.
    Returns the scores s = u . v (n, c, 1+K) and the *descent directions* -dL/dv (n, c, d) and -dL/du
    (n, 1+K, d), using d/ds [-log sigmoid(s)] = sigmoid(s) - 1 and d/ds [-log sigmoid(-s)] = sigmoid(s).
    The error terms are multiplied by scale_v (for the v update, broadcast over (n, c, 1)) and scale_u (for
    the u update, over (n, 1, 1+K)): the learning rate, cheaper on the small score matrix than on gradients.
    """
    scores = torch.bmm(inputs, outputs.transpose(1, 2))
    err = scores.sigmoid().neg_()
    err[:, :, 0] += 1  # label - sigmoid(s): label 1 for the true word, 0 for negatives
    return scores, torch.bmm(err * scale_v, outputs), torch.bmm((err * scale_u).transpose(1, 2), inputs)


def cbow_gradients(inputs: torch.Tensor, counts: torch.Tensor, outputs: torch.Tensor,
                   scale_h: float | torch.Tensor = 1.0, scale_u: float | torch.Tensor = 1.0):
    """CBOW negative sampling: h = mean of the (n, c, d) context vectors (`counts` real ones per row).

    Returns the scores u . h (n, 1+K), -dL/dh (n, d), which word2vec adds whole to every context word,
    and -dL/du (n, 1+K, d); the error terms are multiplied by scale_h (n, 1) and scale_u (n, 1+K).
    """
    hidden = inputs.sum(1) / counts.clamp_min(1)[:, None]
    scores = torch.bmm(outputs, hidden[:, :, None])[:, :, 0]
    err = scores.sigmoid().neg_()
    err[:, 0] += 1
    grad_h = torch.bmm((err * scale_h)[:, None, :], outputs)[:, 0]
    return scores, grad_h, (err * scale_u)[:, :, None] * hidden[:, None, :]


def repeat_damping(index: torch.Tensor, rows: int, limit: int = MAX_REPEATS) -> torch.Tensor:
    """min(1, limit / m) for every entry of `index`, m = how often that row occurs in `index`."""
    repeats = torch.bincount(index.reshape(-1), minlength=rows)[index]
    return limit / repeats.clamp_min(limit).float()


class _Trainer:
    """The shared tables, input `syn0` and output `syn1`, updated Hogwild-style by `workers` threads.

    Like word2vec's C threads and gensim's workers, the threads write to the tables without locks: two threads
    rarely touch the same row at the same moment, and a lost update is harmless noise for SGD. Each op runs
    single-threaded inside its worker (torch threads = 1), so no thread ever waits at a barrier. Rows V, V+1, ...
    are the workers' private all-zero dummy rows.
    """

    def __init__(self, vocab_size: int, cfg: Word2VecConfig) -> None:
        self.cfg, self.vocab_size = cfg, vocab_size
        gen = torch.Generator().manual_seed(cfg.seed)
        # word2vec's initialisation: inputs uniform in [-0.5/d, 0.5/d], outputs zero.
        self.syn0 = (torch.rand(vocab_size + cfg.workers, cfg.dim, generator=gen) - 0.5) / cfg.dim
        self.syn0[vocab_size:] = 0
        self.syn1 = torch.zeros(vocab_size + cfg.workers, cfg.dim)
        self.rng = np.random.default_rng(cfg.seed)
        self.worker_rngs = [np.random.default_rng([cfg.seed, k]) for k in range(cfg.workers)]
        self.loss = float("nan")
        self.stop = threading.Event()

    def lr(self, done: float) -> float:
        """Linear decay from alpha to min_alpha over the whole run (`done` = fraction of all epochs)."""
        return self.cfg.alpha - (self.cfg.alpha - self.cfg.min_alpha) * done

    def plan(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cut an epoch's n centre words into batches; batch j has one random window size b_j in 1..window and
        about cfg.batch context words (batch // 2b_j centres). Returns the batch bounds and window sizes.

        word2vec draws the shrunk window b uniformly for each word, so a pair at distance d is used with
        probability (window - d + 1) / window. Here b is drawn per batch with P(b) proportional to b: a batch
        of window b holds 1/b as many centre words, so each centre word still has a uniform b, and the pairs
        the same distribution, while every step is one dense matrix.
        """
        cfg = self.cfg
        smallest = max(1, cfg.batch // (2 * cfg.window))
        sizes = np.arange(1, cfg.window + 1)
        windows = self.rng.choice(sizes, size=n // smallest + 1, p=sizes / sizes.sum())
        bounds = np.concatenate([[0], np.cumsum(np.maximum(1, cfg.batch // (2 * windows)))])
        n_batches = int(np.searchsorted(bounds, n))
        return np.minimum(bounds[:n_batches + 1], n), windows[:n_batches]

    def examples(self, ids: np.ndarray, sentence: np.ndarray, start: int, end: int, b: int, table: np.ndarray,
                 rng: np.random.Generator, dummy: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context ids (n, 2b), output ids (n, 1+K: the word, then its negatives), real contexts per row."""
        centre = np.arange(start, end)
        pos = centre[:, None] + np.r_[-b:0, 1:b + 1]
        inside = (pos >= 0) & (pos < len(ids))
        pos = np.where(inside, pos, centre[:, None])
        valid = inside & (sentence[pos] == sentence[centre][:, None])
        context = np.where(valid, ids[pos], dummy)
        word = ids[centre]
        neg = table[rng.integers(0, len(table), size=(end - start, self.cfg.negative))]
        out = np.concatenate([word[:, None], np.where(neg == word[:, None], dummy, neg)], axis=1)
        return torch.from_numpy(context), torch.from_numpy(out), torch.from_numpy(valid.sum(1))

    def step(self, context: torch.Tensor, out: torch.Tensor, n_valid: torch.Tensor, lr: float, dummy: int,
             measure: bool = False) -> float:
        """One SGD step on a batch; with `measure`, also return its loss summed over the real pairs."""
        d, real_out = self.cfg.dim, out != dummy
        v = self.syn0.index_select(0, context.reshape(-1)).view(*context.shape, d)
        u = self.syn1.index_select(0, out.reshape(-1)).view(*out.shape, d)
        rows = self.syn0.shape[0]
        lr_v, lr_u = lr * repeat_damping(context, rows), lr * repeat_damping(out, rows)
        if self.cfg.sg:
            scores, grad_v, grad_u = sgns_gradients(v, u, lr_v[:, :, None], lr_u[:, None, :])
            mask = (context != dummy)[:, :, None] & real_out[:, None, :] if measure else None
        else:
            scores, grad_h, grad_u = cbow_gradients(v, n_valid.to(v.dtype), u, 1.0, lr_u)
            grad_v = grad_h[:, None, :] * lr_v[:, :, None]
            mask = (n_valid > 0)[:, None] & real_out if measure else None
        loss = float(negative_sampling_loss(scores, mask)) if measure else 0.0
        # (index_add_'s own alpha= argument takes a much slower path, hence the scaling above)
        self.syn0.index_add_(0, context.reshape(-1), grad_v.reshape(-1, d))
        self.syn1.index_add_(0, out.reshape(-1), grad_u.reshape(-1, d))
        self.syn0[dummy] = 0
        self.syn1[dummy] = 0
        return loss

    def run_epoch(self, epoch: int, ids: np.ndarray, sentence: np.ndarray, table: np.ndarray, on_progress) -> None:
        """Workers take batches from a shared counter until the epoch is used up."""
        cfg, n = self.cfg, len(ids)
        if n == 0:  # a tiny corpus can lose every word to subsampling in one epoch
            return
        bounds, windows = self.plan(n)
        counter, finished, errors = itertools.count(), [0] * cfg.workers, []

        def work(k: int) -> None:
            dummy, rng = self.vocab_size + k, self.worker_rngs[k]
            try:
                while not self.stop.is_set() and (j := next(counter)) < len(windows):
                    start, end = int(bounds[j]), int(bounds[j + 1])
                    lr, measure = self.lr((epoch + start / n) / cfg.epochs), j % LOSS_EVERY == 0
                    context, out, n_valid = self.examples(ids, sentence, start, end, int(windows[j]), table, rng,
                                                          dummy)
                    loss = self.step(context, out, n_valid, lr, dummy, measure)
                    if measure and (examples := int(n_valid.sum() if cfg.sg else (n_valid > 0).sum())):
                        self.loss = loss / examples  # per (context, word) pair, or per (window, word) for CBOW
                    finished[k] += end - start
            except BaseException as exc:  # re-raised in the main thread
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(cfg.workers)]
        for t in threads:
            t.start()
        try:
            while alive := [t for t in threads if t.is_alive()]:
                alive[0].join(0.25)
                on_progress((epoch + sum(finished) / n) / cfg.epochs)
        except BaseException:  # Ctrl-C: the workers stop after their current batch
            self.stop.set()
            raise
        if errors:
            raise errors[0]


def train_word2vec(corpus: Corpus, tokenizer: WordTokenizer, cfg: Word2VecConfig | None = None,
                   progress: bool = True) -> tuple[WordVectors, TrainStats]:
    """Train on `corpus` (ids from `tokenizer`); returns the input vectors of every real word, and timings."""
    from ..train.progress import TrainingProgress

    cfg = (cfg or Word2VecConfig()).validate()
    counts = np.asarray(tokenizer.counts, dtype=np.float64)
    counts[0] = 0  # <unk> never trains
    keep_p, table = keep_probabilities(counts, cfg.sample), unigram_table(counts)
    trainer = _Trainer(tokenizer.vocab_size, cfg)
    total, threads = corpus.raw_words * cfg.epochs, torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        with TrainingProgress(total, 0, enabled=progress) as bar:
            def show(done: float) -> None:
                words_per_sec = done * total / (time.perf_counter() - t0)
                bar.update(int(done * total), trainer.loss, trainer.lr(done), words_per_sec)

            for epoch in range(cfg.epochs):
                kept = trainer.rng.random(len(corpus.ids)) < keep_p[corpus.ids]  # subsampling, fresh each epoch
                trainer.run_epoch(epoch, corpus.ids[kept], corpus.sentence[kept], table, show)
            show(1.0)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    if not torch.isfinite(trainer.syn0).all():
        raise LanternError(f"training diverged (the vectors hold NaN or inf): try a smaller alpha than {cfg.alpha}")
    vectors = WordVectors(tokenizer.words[1:], trainer.syn0[1:tokenizer.vocab_size].clone())
    return vectors, TrainStats(seconds, corpus.raw_words, cfg.epochs, trainer.loss)

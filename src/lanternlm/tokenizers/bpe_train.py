"""Training byte-level BPE: start from the 256 byte values and repeatedly merge the most frequent adjacent pair.

    new token = argmax over pairs (a, b) of  sum over chunks w of  freq(w) * #(a, b adjacent in w)

Ties go to the lexicographically greater pair (compare the byte strings of a, then of b), so training is
deterministic. Merge k gets id 256 + k, which is also its rank: the tiktoken fast path merges by the same ranks.

Done incrementally (the O(N log V) way) rather than recounting every pair after every merge:

1. count each distinct chunk once with its frequency (streamed, in parallel processes: `count_chunks`);
2. keep the pair counts, and an index pair -> chunks that contain it;
3. a merge rewrites only the chunks in the index entry and changes only the counts of the pairs around it;
4. the best pair comes from a max-heap with lazy deletion: an entry whose count is out of date is dropped
   (or re-pushed with its true count) when it reaches the top.

A chunk is stored as a `str` whose characters are token ids (`chr(id)`), so that applying a merge is one
C-speed `str.replace` (left to right, non-overlapping: exactly BPE's rule) and a pair is a 2-character string.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, defaultdict
from contextlib import nullcontext
from itertools import chain
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable

from ..errors import LanternError
from .pretokenize import DEFAULT_BATCH_CHARS, pre_split, read_batches

Progress = Callable[[str, int, "int | None"], None]
"""progress(stage, done, total): stage "count" (characters read, total unknown) or "merge" (merges done)."""

# The heap is a min-heap; this key sorts the *greater* byte string first: each byte b becomes chr(255 - b),
# and chr(256) ends the string, so a prefix sorts after its extensions (it is the smaller string).
_INVERT = bytes(range(255, -1, -1))
_END = chr(256)

PARALLEL_MIN_CHARS = 4 * DEFAULT_BATCH_CHARS


def _descending_key(token: bytes) -> str:
    return token.translate(_INVERT).decode("latin-1") + _END


def _count_batch(args: tuple[str, str, tuple[str, ...]]) -> tuple[dict[bytes, int], int]:
    text, pattern, specials = args
    return {chunk.encode("utf-8"): n for chunk, n in Counter(pre_split(text, pattern, specials)).items()}, len(text)


def count_chunks(paths: Iterable[str | Path], pattern: str, specials: Iterable[str] = (),
                 workers: int | None = None, progress: Progress | None = None) -> Counter:
    """Distinct chunk (UTF-8 bytes) -> frequency over all input files, counted batch by batch in `workers`
    processes (default: all cores); small inputs are counted in this process."""
    specials = tuple(specials)
    work = ((text, pattern, specials) for _, text in read_batches(paths))
    head, size = [], 0
    for item in work:  # look ahead: a process pool only pays off for a few MB of text
        head.append(item)
        size += len(item[0])
        if size >= PARALLEL_MIN_CHARS:
            break
    work = chain(head, work)
    counts: Counter = Counter()
    parallel = size >= PARALLEL_MIN_CHARS and (workers or os.cpu_count() or 1) > 1
    with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) if parallel else nullcontext() as pool:
        done = 0
        for part, chars in pool.imap_unordered(_count_batch, work) if parallel else map(_count_batch, work):
            counts.update(part)
            done += chars
            if progress:
                progress("count", done, None)
    return counts


def learn_merges(chunk_counts: dict[bytes, int], n_merges: int,
                 progress: Progress | None = None) -> list[tuple[int, int]]:
    """The first `n_merges` merges (pairs of token ids, in rank order) for chunks with these frequencies.

    Stops early when no pair is left (every chunk is a single token)."""
    vocab = [bytes([i]) for i in range(256)]
    key = [_descending_key(t) for t in vocab]
    words: list[str] = []
    freqs: list[int] = []
    for chunk, freq in chunk_counts.items():
        if len(chunk) > 1:  # a 1-byte chunk has no pair to merge
            words.append(chunk.decode("latin-1"))  # byte b -> chr(b) == token id b
            freqs.append(freq)

    pair_counts: dict[str, int] = defaultdict(int)
    where: dict[str, list[int]] = defaultdict(list)
    for j, word in enumerate(words):
        freq = freqs[j]
        for k in range(len(word) - 1):
            pair = word[k:k + 2]
            pair_counts[pair] += freq
            where[pair].append(j)
    heap = [(-count, key[ord(p[0])] + key[ord(p[1])], p) for p, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    report_every = max(1, n_merges // 200)
    while len(merges) < n_merges and heap:
        neg_count, tie, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -neg_count:  # stale: counts only go down without a push, so re-queue the true count
            if count > 0:
                heapq.heappush(heap, (-count, tie, pair))
            continue
        a, b = ord(pair[0]), ord(pair[1])
        new_id = len(vocab)
        merges.append((a, b))
        vocab.append(vocab[a] + vocab[b])
        key.append(_descending_key(vocab[-1]))
        new_char = chr(new_id)

        # Only the pairs next to a merge site change: (x, a) -> (x, new) on the left, (b, y) -> (new, y) on
        # the right. For a run "a b a b" -> "new new", the middle pair (b, a) becomes (new, new) once.
        a_char, b_char = pair
        delta: dict[str, int] = defaultdict(int)
        for j in set(where.pop(pair)):
            word = words[j]
            if pair not in word:  # index entries are never removed; skip chunks that lost the pair
                continue
            freq = freqs[j]
            word = words[j] = word.replace(pair, new_char)
            last = len(word) - 1
            k = word.find(new_char)
            while k >= 0:
                if k:
                    left = word[k - 1]
                    q = left + new_char
                    delta[q] += freq
                    delta[(b_char if left == new_char else left) + a_char] -= freq
                    where[q].append(j)
                if k < last and word[k + 1] != new_char:
                    right = word[k + 1]
                    q = new_char + right
                    delta[q] += freq
                    delta[b_char + right] -= freq
                    where[q].append(j)
                k = word.find(new_char, k + 1)
        del pair_counts[pair]  # every occurrence was merged
        delta.pop(pair, None)
        for q, d in delta.items():
            if d == 0:
                continue
            count = pair_counts[q] + d
            if count:
                pair_counts[q] = count
            else:
                del pair_counts[q]
            if d > 0:  # only pairs with the new token grow; they need a fresh heap entry
                heapq.heappush(heap, (-count, key[ord(q[0])] + key[ord(q[1])], q))
        if progress and len(merges) % report_every == 0:
            progress("merge", len(merges), n_merges)
    if progress:
        progress("merge", len(merges), n_merges)
    return merges


def train_bpe(paths: Iterable[str | Path], vocab_size: int, pattern: str = "gpt2",
              special_tokens: Iterable[str] = ("<|endoftext|>",), workers: int | None = None,
              progress: Progress | None = None):
    """Train a `BPETokenizer` with `vocab_size` ids: 256 bytes + merges + the special tokens (last)."""
    from .bpe import BPETokenizer

    specials = list(dict.fromkeys(special_tokens))
    if any(not s for s in specials):
        raise LanternError("a special token cannot be empty")
    minimum = 256 + len(specials)
    if vocab_size < minimum:
        raise LanternError(f"vocab size {vocab_size} is too small: it needs at least 256 bytes + "
                           f"{len(specials)} special token(s) = {minimum}")
    counts = count_chunks(paths, pattern, specials, workers, progress)
    if not counts:
        raise LanternError("the training corpus is empty (no text outside special tokens)")
    merges = learn_merges(counts, vocab_size - minimum, progress)
    first_special = 256 + len(merges)
    return BPETokenizer(merges, pattern, {s: first_special + i for i, s in enumerate(specials)})

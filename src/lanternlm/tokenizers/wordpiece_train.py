"""Training a WordPiece vocabulary: start from characters, repeatedly merge the pair with the best *likelihood* score.

Words come from BERT's basic pre-tokenization (`bert_pretokenize.py`), counted once each. A word starts as its
characters, the first plain and the others as continuations: "dog" = d ##o ##g. A merge joins two adjacent
symbols into one ("d" + "##o" -> "do", "##o" + "##g" -> "##og") and the merged text becomes a vocabulary entry.

Which pair? BPE merges the most *frequent* pair. WordPiece merges the pair that most raises the likelihood of
the training words under a unigram model of the symbols, which comes down to

    score(a, b) = count(ab) / (count(a) · count(b))

count(ab) = how often a is directly followed by b, count(a) = how often a occurs (both weighted by word
frequency). A pair of rare symbols that nearly always occur together ("##q" "##u") beats a frequent pair of
common ones ("##e" "##s"). Ties go to the pair seen more often, then to the alphabetically smaller pair
(compare the text of a, then of b), so training is deterministic. Merging stops at the vocabulary size.

Incremental, not a full recount per merge:

1. pair counts, symbol counts and an index pair -> words that contain it are kept up to date; a merge rewrites
   only the indexed words (a word is a `str` of symbol ids, so a merge is one `str.replace`);
2. the best pair comes from a heap with lazy deletion. A score drops when a pair loses occurrences or one of
   its symbols gains some: such entries are found out of date when they reach the top and re-queued with
   their true score. A score *rises* only for pairs that contain a or b (their counts fell): those are
   re-queued right after the merge. When out-of-date entries pile up, the heap is rebuilt from the live pairs.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

from ..errors import LanternError
from .bert_pretokenize import BertPreTokenizer
from .bpe_train import Progress
from .pretokenize import read_batches
from .wordpiece import BERT_SPECIALS, WordPieceTokenizer

SPECIALS = [BERT_SPECIALS[role] for role in ("pad", "unk", "cls", "sep", "mask")]  # ids 0..4, in this order
HEAP_SLACK = 1_000_000  # out-of-date heap entries tolerated before the heap is rebuilt (bounds memory)


def count_words(paths: Iterable[str | Path], pre: BertPreTokenizer,
                progress: Progress | None = None) -> Counter[str]:
    """Word -> frequency over the files, after `pre`'s normalisation and splitting."""
    chunks: Counter[str] = Counter()
    done = 0
    for _, text in read_batches(paths):
        chunks.update(pre.chunks(pre.normalize(text)))
        done += len(text)
        if progress:
            progress("count", done, None)
    words: Counter[str] = Counter()
    for chunk, n in chunks.items():
        for word in pre.pieces(chunk):
            words[word] += n
    return words


def initial_alphabet(word_counts: dict[str, int], prefix: str = "##") -> list[str]:
    """Every character as a word start, then "##c" for every character seen inside a word (sorted)."""
    starts = set()
    inside = set()
    for word in word_counts:
        starts.update(word)
        inside.update(word[1:])
    return sorted(starts) + sorted(prefix + c for c in inside)


def learn_vocab(word_counts: dict[str, int], vocab_size: int, specials: Iterable[str] = SPECIALS,
                prefix: str = "##", progress: Progress | None = None) -> list[str]:
    """specials + alphabet + merged pieces, in id order, at most `vocab_size` entries."""
    vocab = list(dict.fromkeys(specials)) + initial_alphabet(word_counts, prefix)
    if len(vocab) > vocab_size:
        raise LanternError(f"vocab size {vocab_size} is too small: the special tokens and the characters of "
                           f"the corpus (with their ## forms) already take {len(vocab)} ids")
    ids = {token: i for i, token in enumerate(vocab)}
    symbol_text = list(vocab)
    words: list[str] = []  # a word as a string of symbol ids: chr(id) per symbol
    freqs: list[int] = []
    for word, freq in word_counts.items():
        words.append(chr(ids[word[0]]) + "".join(chr(ids[prefix + c]) for c in word[1:]))
        freqs.append(freq)

    symbol_count: dict[int, int] = defaultdict(int)
    pair_count: dict[str, int] = defaultdict(int)
    where: dict[str, list[int]] = defaultdict(list)
    pairs_of: dict[int, set[str]] = defaultdict(set)
    for j, (word, freq) in enumerate(zip(words, freqs)):
        for k, symbol in enumerate(word):
            symbol_count[ord(symbol)] += freq
            if k:
                pair = word[k - 1:k + 1]
                pair_count[pair] += freq
                where[pair].append(j)
                pairs_of[ord(pair[0])].add(pair)
                pairs_of[ord(pair[1])].add(pair)

    pair_count = dict(pair_count)  # from here on, a pair with no occurrence has no entry

    def entry(pair: str) -> tuple[float, int, str, str, str]:
        a, b = ord(pair[0]), ord(pair[1])
        count = pair_count[pair]
        return -count / (symbol_count[a] * symbol_count[b]), -count, symbol_text[a], symbol_text[b], pair

    heap = [entry(pair) for pair in pair_count]
    heapq.heapify(heap)
    start_size = len(vocab)
    report_every = max(1, (vocab_size - start_size) // 200)
    while len(vocab) < vocab_size and heap:
        top = heapq.heappop(heap)
        pair = top[-1]
        if pair not in pair_count:
            continue
        if entry(pair) != top:  # out of date: re-queue with the true score
            heapq.heappush(heap, entry(pair))
            continue
        a, b = ord(pair[0]), ord(pair[1])
        merged = symbol_text[a] + symbol_text[b][len(prefix):]
        if merged not in ids:  # two different pairs can spell the same piece: reuse its id
            ids[merged] = len(symbol_text)
            symbol_text.append(merged)
            vocab.append(merged)
        new_char = chr(ids[merged])
        touched = _merge(pair, new_char, words, freqs, where, pair_count, symbol_count, pairs_of)
        for q in touched | pairs_of[a] | pairs_of[b]:
            heapq.heappush(heap, entry(q))
        if len(heap) > 2 * len(pair_count) + HEAP_SLACK:  # mostly out-of-date entries: start afresh
            heap = [entry(q) for q in pair_count]
            heapq.heapify(heap)
        if progress and (len(vocab) - start_size) % report_every == 0:
            progress("merge", len(vocab) - start_size, vocab_size - start_size)
    if progress:
        progress("merge", len(vocab) - start_size, vocab_size - start_size)
    return vocab


def _merge(pair: str, new_char: str, words: list[str], freqs: list[int], where: dict[str, list[int]],
           pair_count: dict[str, int], symbol_count: dict[int, int], pairs_of: dict[int, set[str]]) -> set[str]:
    """Rewrite every word containing `pair` and update the counts; returns the pairs whose count rose."""
    pair_delta: dict[str, int] = defaultdict(int)
    symbol_delta: dict[int, int] = defaultdict(int)
    for j in set(where.pop(pair)):
        old = words[j]
        if pair not in old:  # the index keeps words that have since lost the pair
            continue
        new = words[j] = old.replace(pair, new_char)
        freq = freqs[j]
        for k in range(len(old) - 1):
            pair_delta[old[k:k + 2]] -= freq
        for k in range(len(new) - 1):
            q = new[k:k + 2]
            pair_delta[q] += freq
            if new_char in q:
                where[q].append(j)
        merges = (len(old) - len(new)) * freq
        symbol_delta[ord(pair[0])] -= merges
        symbol_delta[ord(pair[1])] -= merges
        symbol_delta[ord(new_char)] += merges
    for symbol, d in symbol_delta.items():
        symbol_count[symbol] += d
    rose = set()
    for q, d in pair_delta.items():
        if d == 0:
            continue
        count = pair_count.get(q, 0) + d
        if count > 0:
            pair_count[q] = count
            pairs_of[ord(q[0])].add(q)
            pairs_of[ord(q[1])].add(q)
        else:
            pair_count.pop(q, None)
            pairs_of[ord(q[0])].discard(q)
            pairs_of[ord(q[1])].discard(q)
        if d > 0:
            rose.add(q)
    return rose


def train_wordpiece(paths: Iterable[str | Path], vocab_size: int, lowercase: bool = True,
                    strip_accents: bool | None = None, max_input_chars_per_word: int = 100,
                    progress: Progress | None = None) -> WordPieceTokenizer:
    """Train a `WordPieceTokenizer` with `vocab_size` ids: [PAD] [UNK] [CLS] [SEP] [MASK], characters, merges."""
    pre = BertPreTokenizer(lowercase, strip_accents)
    counts = count_words(paths, pre, progress)
    counts = {w: n for w, n in counts.items() if len(w) <= max_input_chars_per_word}  # longer words are [UNK]
    if not counts:
        raise LanternError("the training corpus is empty (no words after pre-tokenization)")
    vocab = learn_vocab(counts, vocab_size, progress=progress)
    return WordPieceTokenizer(vocab, lowercase=lowercase, strip_accents=strip_accents,
                              max_input_chars_per_word=max_input_chars_per_word)

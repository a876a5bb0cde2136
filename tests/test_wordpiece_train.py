"""WordPiece training: the likelihood score count(ab) / (count(a) count(b)), by hand on a toy corpus and against a
recount-everything reference trainer; trained vocabularies have the asked size and round-trip."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lanternlm.errors import LanternError
from lanternlm.tokenizers import load_tokenizer
from lanternlm.tokenizers import wordpiece_train
from lanternlm.tokenizers.bert_pretokenize import BertPreTokenizer
from lanternlm.tokenizers.wordpiece_train import SPECIALS, count_words, initial_alphabet, learn_vocab, train_wordpiece

# Symbols: h p b, ##u ##g ##n ##s. count: h 15, p 17, b 4, ##u 36, ##g 20, ##n 16, ##s 5.
TOY = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5}


def test_toy_alphabet_and_first_merges_by_hand():
    # Every character can start a word; continuations only for the characters seen inside a word.
    assert initial_alphabet(TOY) == ["b", "g", "h", "n", "p", "s", "u", "##g", "##n", "##s", "##u"]
    start = len(SPECIALS) + 11
    vocab = learn_vocab(TOY, start + 2)
    # Merge 1. Pair counts: h ##u 15, p ##u 17, b ##u 4, ##u ##g 20, ##u ##n 16, ##g ##s 5. Scores: every pair
    # with ##u scores 1/36 (e.g. 20 / (36 * 20)), but ##g ##s scores 5 / (20 * 5) = 1/20: the best, although
    # ##u ##g is the most frequent pair (the one BPE would merge).
    # Merge 2. Now ##g 15, ##gs 5: every pair scores 1/36 again (##u ##g 15 / (36 * 15), ##u ##gs 5 / (36 * 5),
    # ...); the tie goes to the most frequent pair, p ##u (17).
    assert vocab[start:] == ["##gs", "pu"]


def naive_vocab(word_counts: dict[str, int], vocab_size: int) -> list[str]:
    """The textbook trainer: recount all symbols and pairs after every merge."""
    vocab = SPECIALS + initial_alphabet(word_counts)
    words = {tuple([w[0]] + ["##" + c for c in w[1:]]): n for w, n in word_counts.items()}
    while len(vocab) < vocab_size:
        symbols, pairs = Counter(), Counter()
        for word, n in words.items():
            for symbol in word:
                symbols[symbol] += n
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        a, b = min(pairs, key=lambda p: (-pairs[p] / (symbols[p[0]] * symbols[p[1]]), -pairs[p], p[0], p[1]))
        merged = a + b[2:]
        if merged not in vocab:
            vocab.append(merged)
        words = {_merge_pair(word, a, b, merged): n for word, n in words.items()}
    return vocab


def _merge_pair(word: tuple[str, ...], a: str, b: str, merged: str) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def test_incremental_trainer_equals_naive_on_real_text(shared_data):
    counts = count_words([shared_data("corpora/the-verdict.txt")], BertPreTokenizer())
    size = len(SPECIALS) + len(initial_alphabet(counts)) + 300
    assert learn_vocab(counts, size) == naive_vocab(counts, size)


@pytest.mark.parametrize("heap_slack", [1_000_000, 0])
def test_incremental_trainer_equals_naive_to_exhaustion(monkeypatch, heap_slack):
    """Words over a 3-letter alphabet, many ties: both trainers run until no pair is left (with heap_slack 0
    the heap is rebuilt after nearly every merge)."""
    monkeypatch.setattr(wordpiece_train, "HEAP_SLACK", heap_slack)
    rng = random.Random(0)
    counts = {"".join(rng.choices("abc", k=rng.randint(1, 9))): rng.randint(1, 50) for _ in range(300)}
    vocab = learn_vocab(counts, 10**6)
    assert vocab == naive_vocab(counts, 10**6)
    assert len(set(vocab)) == len(vocab) and set(counts) <= set(vocab)  # every word ends up as one piece


def test_train_reaches_the_size_and_round_trips(shared_data, tmp_path):
    corpus = shared_data("corpora/the-verdict.txt")
    calls = []
    tok = train_wordpiece([corpus], 800, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert tok.vocab_size == 800 and tok.vocab[:5] == SPECIALS and len(set(tok.vocab)) == 800
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert calls[0][0] == "count" and calls[-1][0] == "merge" and calls[-1][1] == calls[-1][2]
    text = corpus.read_text(encoding="utf-8")
    ids = tok.encode(text)
    assert tok.unk_id not in ids  # every word of the training text is covered by its pieces
    words = tok.pre.words(text)
    assert tok.decode(ids) == "".join(w if i == 0 or w in ".,!?" else " " + w for i, w in enumerate(words))
    path = tmp_path / "wp.json"
    tok.save(path)
    assert load_tokenizer(path).encode(text) == ids
    assert train_wordpiece([corpus], 800).vocab == tok.vocab  # deterministic


def test_cased_training_keeps_capitals(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("Hello hello HELLO Café\n" * 20, encoding="utf-8")
    tok = train_wordpiece([corpus], 60, lowercase=False)
    assert "H" in tok.vocab and "##é" in tok.vocab and not tok.pre.lowercase
    assert tok.decode(tok.encode("Hello Café")) == "Hello Café"


def test_bad_training_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\x00\n")
    with pytest.raises(LanternError, match="empty"):
        train_wordpiece([empty], 100)
    text = tmp_path / "t.txt"
    text.write_text("hello world\n")
    with pytest.raises(LanternError, match="too small"):
        train_wordpiece([text], 10)

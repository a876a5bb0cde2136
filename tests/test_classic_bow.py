"""Word tokenizer, one-hot, bag of words and TF-IDF search, checked against hand computations."""

import math

import pytest
import torch

from lanternlm.classic.bow import TfidfIndex, bag_of_words, one_hot, smooth_idf, tfidf
from lanternlm.cli import main
from test_cli import one_line_error  # exit code 2, one 'error: ...' line
from lanternlm.errors import LanternError
from lanternlm.tokenizers import WordTokenizer, load_tokenizer

DOCS = ["the cat sat", "the cat sat on the mat", "dogs chase the cat"]


def test_word_tokenizer_policy_and_unk(tmp_path):
    tok = WordTokenizer.train("The cat's hat. The CAT sat, on the well-worn mat! A cat.", min_count=2)
    assert tok.split("The cat’s well-worn hat!") == ["the", "cat's", "well", "worn", "hat"]
    assert tok.words == ["<unk>", "the", "cat"]  # most frequent first; 'the' x3, 'cat' x2 (cat's is another word)
    assert tok.encode("the dog and the cat") == [1, 0, 0, 1, 2]  # unseen and rare words share <unk> = 0
    assert tok.decode(tok.encode("The cat!")) == "the cat"  # lossy by design: case and punctuation are gone
    keep = WordTokenizer.train("Hi, there!", punctuation="keep")
    assert keep.split("Hi, there!") == ["hi", ",", "there", "!"]
    tok.save(tmp_path / "tok.json")
    again = load_tokenizer(tmp_path / "tok.json")
    assert isinstance(again, WordTokenizer) and again.words == tok.words and again.counts == tok.counts


def test_word_tokenizer_errors():
    strict = WordTokenizer.train("apple apple banana", unk="error")
    with pytest.raises(LanternError, match="did you mean apple"):
        strict.encode("appel")
    with pytest.raises(LanternError, match="no words"):
        WordTokenizer.train("... !!! ---")
    with pytest.raises(LanternError, match="min_count=9 leaves an empty vocabulary"):
        WordTokenizer.train("a b b c", min_count=9)


def test_one_hot_and_bag_of_words():
    assert one_hot([2, 0], 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    counts = bag_of_words([[1, 1, 2], [0]], 3)
    assert counts.tolist() == [[0, 2, 1], [1, 0, 0]]
    assert bag_of_words([[1, 1, 2], [0]], 3, binary=True).tolist() == [[0, 1, 1], [1, 0, 0]]


def test_tfidf_equals_hand_computation():
    """Smooth idf and l2 rows, written out term by term for three documents (scikit-learn's defaults)."""
    tok = WordTokenizer.train(DOCS)
    counts = bag_of_words([tok.encode(d) for d in DOCS], tok.vocab_size)
    got = tfidf(counts, smooth_idf(counts))

    n = 3
    df = {w: sum(w in d.split() for d in DOCS) for w in tok.words[1:]}
    idf = {w: math.log((1 + n) / (1 + df[w])) + 1 for w in df}
    assert idf["the"] == 1.0 and idf["cat"] == 1.0  # in every document: weight 1
    assert idf["mat"] == pytest.approx(math.log(2) + 1)  # in one document
    for row, doc in enumerate(DOCS):
        raw = {w: doc.split().count(w) * idf[w] for w in idf}
        norm = math.sqrt(sum(v * v for v in raw.values()))
        for w, value in raw.items():
            assert float(got[row, tok.stoi[w]]) == pytest.approx(value / norm, abs=1e-6)
    assert torch.allclose(got.norm(dim=1), torch.ones(3))


def test_tfidf_search_ranks_by_cosine():
    index = TfidfIndex(DOCS)
    best = index.search("a cat on a mat", top=2)
    assert [m.index for m in best] == [1, 0]  # the only document with 'on' and 'mat' wins
    assert best[0].score == pytest.approx(float(torch.dot(index.vectors[1], index.vector("cat on mat"))), abs=1e-6)
    with pytest.raises(LanternError, match="did you mean dogs"):
        index.search("dogz")


def test_embed_tfidf_cli(tmp_path, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(DOCS) + "\n")
    assert main(["embed", "tfidf", "--input", str(docs), "--query", "mat", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "docs.txt:line 2" in out and "the cat sat on the mat" in out
    assert "occurs in the documents" in one_line_error(capsys, ["embed", "tfidf", "-i", str(docs), "-q", "zebra"])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert "empty" in one_line_error(capsys, ["embed", "tfidf", "-i", str(empty), "-q", "cat"])

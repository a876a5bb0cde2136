import pytest

from lanternlm.data import bundled_corpus_path
from lanternlm.io import read_text
from lanternlm.errors import LanternError
from lanternlm.tokenizers import CharTokenizer, load_tokenizer


def test_round_trip_on_whole_corpus():
    text = read_text(bundled_corpus_path())
    tok = CharTokenizer.train(text)
    assert tok.vocab_size == 65  # the classic Tiny Shakespeare character set
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.train("hello, world\n")
    tok.save(tmp_path / "tok.json")
    again = load_tokenizer(tmp_path / "tok.json")
    assert isinstance(again, CharTokenizer)
    assert again.chars == tok.chars
    assert again.encode("world") == tok.encode("world")


def test_unknown_character_is_named():
    tok = CharTokenizer.train("abc")
    with pytest.raises(LanternError, match=r"'z'"):
        tok.encode("abz")


def test_decode_out_of_range():
    tok = CharTokenizer.train("abc")
    with pytest.raises(LanternError, match="out of range"):
        tok.decode([0, 7])


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}',
                                     '{"format": "lantern-tokenizer", "version": 1, "kind": "char"}'])
def test_corrupt_tokenizer_file(tmp_path, content):
    path = tmp_path / "tok.json"
    path.write_text(content)
    with pytest.raises(LanternError):
        load_tokenizer(path)

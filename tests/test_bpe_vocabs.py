"""Real vocabularies, exact: GPT-2 (encoder.json + vocab.bpe) and the OpenAI .tiktoken rank files, loaded by our
code, give the golden ids and the ids of tiktoken built from the same local files, on every text corpus."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA
from lanternlm.errors import LanternError
from lanternlm.tokenizers import BPETokenizer, load_tokenizer
from lanternlm.tokenizers.formats import read_gpt2, read_tiktoken, write_tiktoken
from lanternlm.tokenizers.pretokenize import OPENAI_SPECIALS, PATTERNS

TOK = SHARED_DATA / "tokenizers"
CORPORA = ["tinyshakespeare.txt", "corpora/gutenberg_en.txt.gz", "corpora/tinystories_v1_train_head.txt",
           "corpora/tinystories_v2_gpt4_head.txt", "corpora/wikitext2_valid.tokens.txt",
           "corpora/taylorswift_wikipedia.txt", "corpora/the-verdict.txt", "sentiment/movie_reviews_train.jsonl",
           "sentiment/rt_polarity_train.jsonl", "translation/tatoeba_eng_fra_train.tsv"]
VOCABS = {"gpt2": ("r50k_base", "gpt2"), "cl100k_base": ("cl100k_base", "gpt4"), "o200k_base": ("o200k_base", "o200k")}


def need(path):
    if not path.exists():
        pytest.skip(f"shared data file missing: {path}")
    return path


def corpus_slice(relative: str, chars: int) -> str:
    import gzip

    path = need(SHARED_DATA / relative)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read(chars)


def load_ours() -> dict[str, BPETokenizer]:
    """Our tokenizers: GPT-2 from encoder.json + vocab.bpe, the others from .tiktoken files."""
    toks = {"gpt2": BPETokenizer.from_gpt2_files(need(TOK / "gpt2_encoder.json"), need(TOK / "gpt2_vocab.bpe"))}
    for name, (file, pattern) in VOCABS.items():
        if name != "gpt2":
            toks[name] = BPETokenizer.from_tiktoken_file(need(TOK / f"{file}.tiktoken"), pattern)
    return toks


def load_theirs() -> dict:
    """tiktoken itself, built from the same local files."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    return {name: tiktoken.Encoding(name, pat_str=PATTERNS[pattern], special_tokens=OPENAI_SPECIALS[pattern],
                                    mergeable_ranks=load_tiktoken_bpe(str(need(TOK / f"{file}.tiktoken"))))
            for name, (file, pattern) in VOCABS.items()}


@pytest.fixture(scope="module")
def ours():
    return load_ours()


@pytest.fixture(scope="module")
def theirs():
    return load_theirs()


def test_gpt2_files_equal_r50k_ranks(ours):
    assert ours["gpt2"].ranks == read_tiktoken(TOK / "r50k_base.tiktoken")
    assert ours["gpt2"].special_tokens == {"<|endoftext|>": 50256} and ours["gpt2"].vocab_size == 50257


@pytest.mark.slow
def test_golden_reference_encodings(ours):
    records = [json.loads(line) for line in need(TOK / "reference_encodings.jsonl").open(encoding="utf-8")]
    compared = 0
    for rec in records:
        allowed = "all" if rec["name"] == "special_token_allowed" else ()
        for name, tok in ours.items():
            assert tok.encode(rec["text"], allowed) == rec[name], (rec["name"], name)
            assert tok.encode_reference(rec["text"], allowed) == rec[name], (rec["name"], name)
            assert tok.decode(rec[name]) == rec["text"]
            compared += len(rec[name])
    assert len(records) == 19 and compared > 20_000


@pytest.mark.slow
@pytest.mark.parametrize("relative", CORPORA)
def test_every_corpus_matches_tiktoken(ours, theirs, relative):
    """Fast path on 300k characters and the reference encoder on 30k, for each of the three vocabularies
    (the full corpora are compared by benchmarks/bpe_exactness.py)."""
    text = corpus_slice(relative, 300_000)
    for name, tok in ours.items():
        expected = theirs[name].encode(text, disallowed_special=())
        assert tok.encode(text) == expected, name
        head = text[:30_000]
        assert tok.encode_reference(head) == theirs[name].encode(head, disallowed_special=()), name
        assert tok.decode(expected) == text


def test_p50k_special_id_inside_the_ranks():
    """p50k skips rank 50256 (held by <|endoftext|>): merges after it take the next free id."""
    ranks = read_tiktoken(need(TOK / "p50k_base.tiktoken"))
    tok = BPETokenizer.from_ranks(ranks, "gpt2", {"<|endoftext|>": 50256})
    assert tok.ranks == ranks and tok.vocab_size == 50281
    assert tok.decode([50256]) == "<|endoftext|>"
    code = "def f(x):\n        return x  # indented\n"
    assert tok.encode_reference(code) == tok.encode(code)


def test_tiktoken_export_import_and_json_round_trip(ours, tmp_path):
    gpt2 = ours["gpt2"]
    write_tiktoken(gpt2.ranks, tmp_path / "gpt2.tiktoken")
    assert (tmp_path / "gpt2.tiktoken").read_bytes() == need(TOK / "r50k_base.tiktoken").read_bytes()
    gpt2.save(tmp_path / "gpt2.json")
    loaded = load_tokenizer(tmp_path / "gpt2.json")
    assert loaded.ranks == gpt2.ranks and loaded.byte_order == gpt2.byte_order
    text = corpus_slice("corpora/taylorswift_wikipedia.txt", 20_000)
    assert loaded.encode_reference(text) == gpt2.encode(text)


def test_bad_vocabulary_files(tmp_path):
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("not base64 at all\n")
    with pytest.raises(LanternError, match="not a .tiktoken line"):
        read_tiktoken(bad)
    holes = tmp_path / "holes.tiktoken"
    holes.write_text("".join(f"{__import__('base64').b64encode(bytes([i])).decode()} {i}\n" for i in range(255)))
    with pytest.raises(LanternError, match="256 single bytes"):
        BPETokenizer.from_ranks(read_tiktoken(holes), "gpt2")
    enc = tmp_path / "encoder.json"
    enc.write_text("{not json")
    with pytest.raises(LanternError, match="not valid JSON"):
        read_gpt2(enc, tmp_path / "vocab.bpe")

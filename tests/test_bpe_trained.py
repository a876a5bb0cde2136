"""Our trained ranks, exact: 8,192- and 32,768-token vocabularies trained on a Gutenberg slice; on text that was
not in training the readable reference encoder equals the tiktoken fast path, and both round-trip."""

from __future__ import annotations

import gzip

import pytest

from lanternlm.tokenizers.bpe_train import train_bpe


def held_out_text(get, gutenberg_path, skip_chars: int) -> str:
    """Later Gutenberg books (not in the training slice) plus three other corpora."""
    with gzip.open(gutenberg_path, "rt", encoding="utf-8", newline="") as fh:
        fh.read(skip_chars)
        parts = [fh.read(150_000)]
    for rel in ("corpora/tinystories_v2_gpt4_head.txt", "corpora/wikitext2_valid.tokens.txt",
                "corpora/taylorswift_wikipedia.txt"):
        parts.append(get(rel).read_text(encoding="utf-8")[:100_000])
    return "".join(parts) + "\n日本語のテキスト 🙂 naïve café\r\n\t\tx = [1, 22, 333, 4444]\n"


@pytest.mark.slow
@pytest.mark.parametrize("vocab_size, train_chars", [(8192, 2_000_000), (32768, 6_000_000)])
def test_trained_reference_equals_fast_path_on_held_out_text(tmp_path, shared_data, vocab_size, train_chars):
    gutenberg = shared_data("corpora/gutenberg_en.txt.gz")
    with gzip.open(gutenberg, "rt", encoding="utf-8", newline="") as fh:
        train_text = fh.read(train_chars)
    path = tmp_path / "train.txt"
    path.write_text(train_text, encoding="utf-8", newline="")
    tok = train_bpe([path], vocab_size, "gpt2")
    assert tok.vocab_size == vocab_size and len(tok.merges) == vocab_size - 257

    text = held_out_text(shared_data, gutenberg, 40_000_000)
    ids = tok.encode(text)
    assert tok.encode_reference(text) == ids
    assert tok.decode(ids) == text
    assert len(text.encode()) / len(ids) > 3.0  # a real vocabulary compresses English well

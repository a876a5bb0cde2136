"""Serving an encoder: a BERT run loads beside a GPT, says it does not generate, and answers the playground's
encoder API (similarity, search among given texts or in a served index, contextual word vectors, fill-in) with
the numbers the encode stage computes directly; bad requests are 4xx JSON."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.cli import main  # noqa: E402
from lanternlm.encode import as_encoder, fill_masks, word_in_context  # noqa: E402
from lanternlm.errors import LanternError  # noqa: E402
from lanternlm.serve import create_app, load_models  # noqa: E402
from lanternlm.serve.registry import attach_index  # noqa: E402

TEXTS = ["to be or not to be", "my kingdom for a horse", "a horse, a horse", "now is the winter of our discontent"]


@pytest.fixture(scope="module")
def index(tiny_bert_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    (folder / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    assert main(["embed", "sentences", str(tiny_bert_run), "-i", str(folder / "texts.txt"), "-o",
                 str(folder / "vecs"), "-q"]) == 0
    return folder / "vecs"


@pytest.fixture(scope="module")
def client(tiny_bert_run, tiny_run, index):
    models = load_models([tiny_bert_run, tiny_run], torch.device("cpu"))
    assert attach_index(models, index) == tiny_bert_run.name
    with TestClient(create_app(models)) as c:
        yield c


def post(client, path, body, status=200):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_an_encoder_is_served_and_does_not_generate(client, tiny_bert_run, tiny_run):
    described = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    assert described[tiny_bert_run.name]["family"] == "bert" and described[tiny_bert_run.name]["generates"] is False
    assert described[tiny_bert_run.name]["index"] == len(TEXTS) and described[tiny_run.name]["generates"] is True
    error = post(client, "/v1/completions", {"model": tiny_bert_run.name, "prompt": "to be", "max_tokens": 3}, 400)
    assert "does not generate" in error["error"]["message"]
    error = post(client, "/api/next-token", {"model": tiny_bert_run.name, "text": "to be"}, 400)
    assert "does not generate" in error["error"]["message"]
    attention = post(client, "/api/attention", {"model": tiny_bert_run.name, "text": "to be or not"})
    first = torch.tensor(attention["layers"][0][0])
    assert first[0, -1] > 0  # bidirectional: the first token attends to the last one
    neighbours = post(client, "/api/embeddings/neighbours", {"model": tiny_bert_run.name, "token": 10, "k": 3})
    assert len(neighbours["neighbours"]) == 3


def test_similarity_matrix(client, tiny_bert_run):
    data = post(client, "/api/encoder/similarity", {"model": tiny_bert_run.name, "texts": TEXTS[:3]})
    expected = as_encoder(tiny_bert_run).similarity(TEXTS[:3])
    torch.testing.assert_close(torch.tensor(data["matrix"]), expected, atol=1e-4, rtol=0)


def test_search_in_given_texts_and_in_the_index(client, tiny_bert_run):
    body = {"model": tiny_bert_run.name, "query": "a horse", "top": 2}
    from_index = post(client, "/api/encoder/search", body)
    from_texts = post(client, "/api/encoder/search", {**body, "texts": TEXTS})
    assert from_index["source"] == "index" and from_texts["source"] == "texts" and from_index["size"] == 4
    assert from_index["results"] == from_texts["results"]  # the same vectors either way
    encoder = as_encoder(tiny_bert_run)
    scores = torch.nn.functional.cosine_similarity(encoder.embed(["a horse"]), encoder.embed(TEXTS))
    best = scores.argsort(descending=True)[:2].tolist()
    assert [r["text"] for r in from_index["results"]] == [TEXTS[i] for i in best]
    assert from_index["results"][0]["score"] == pytest.approx(scores[best[0]].item(), abs=1e-4)


def test_contextual_and_fill(client, tiny_bert_run):
    sentences = ["a horse, a horse", "my kingdom for a horse"]
    data = post(client, "/api/encoder/contextual", {"model": tiny_bert_run.name, "sentences": sentences,
                                                    "word": "horse"})
    found = word_in_context(as_encoder(tiny_bert_run), sentences, "horse")
    assert data["positions"] == found.positions and data["static"][0][1] == pytest.approx(1.0, abs=1e-4)
    assert data["contextual"][0][1] == pytest.approx(found.cosines()[0][0, 1].item(), abs=1e-4)
    filled = post(client, "/api/encoder/fill", {"model": tiny_bert_run.name, "text": "to be or [MASK] to be",
                                               "top": 3})
    predictions, text = fill_masks(as_encoder(tiny_bert_run), "to be or [MASK] to be", 3)
    assert filled["filled"] == text and [c["id"] for c in filled["masks"][0]["candidates"]] == [
        c[1] for c in predictions[0].candidates]


@pytest.mark.parametrize("path, body, message", [
    ("/api/encoder/similarity", {"texts": ["only one"]}, "texts"),
    ("/api/encoder/similarity", {"texts": ["a", "  "]}, "texts[1]: give a non-empty text"),
    ("/api/encoder/fill", {"text": "no mask"}, "has no [MASK]"),
    ("/api/encoder/contextual", {"sentences": ["a horse", "a cow"], "word": "horse"}, "sentence 2 does not contain"),
    ("/api/encoder/search", {"query": "x", "top": 0}, "top"),
    ("/api/encoder/search", {"query": "x", "texts": ["a", ""]}, "texts[1]: give a non-empty text"),
    ("/api/encoder/similarity", {"texts": ["a"] * 17}, "texts"),
    ("/api/encoder/contextual", {"sentences": ["a horse", " "], "word": "horse"}, "sentences[1]"),
    ("/api/encoder/contextual", {"sentences": ["a horse", "a horse"], "word": ""}, "word"),
    ("/api/encoder/fill", {"text": "the [MASK]", "top": 51}, "top"),
    ("/api/encoder/fill", {"text": "the horse " * 20 + "[MASK]"}, "the model reads at most 32"),
])
def test_bad_requests(client, tiny_bert_run, path, body, message):
    error = post(client, path, {"model": tiny_bert_run.name, **body}, 400)
    assert message in error["error"]["message"]


def test_a_decoder_has_no_encoder_api(client, tiny_run):
    error = post(client, "/api/encoder/similarity", {"model": tiny_run.name, "texts": ["a", "b"]}, 400)
    assert "is not an encoder" in error["error"]["message"]


def test_search_without_index_or_texts(tiny_bert_run):
    models = load_models([tiny_bert_run], torch.device("cpu"))
    with TestClient(create_app(models)) as c:
        error = post(c, "/api/encoder/search", {"query": "a horse"}, 400)
    assert "no sentence index" in error["error"]["message"]


def test_an_index_needs_the_encoder_that_made_it(tiny_run, index):
    models = load_models([tiny_run], torch.device("cpu"))
    with pytest.raises(LanternError, match="no served encoder made this index"):
        attach_index(models, index)

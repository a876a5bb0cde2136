"""The playground's "look inside" API in-process: each answer against an independent computation (the trace,
softmax at three temperatures, greedy decoding by hand, eval's loss, a BPE pair count, the sizing formulas,
word-vector analogies), and bad input as 4xx JSON."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.classic.vectors import WordVectors  # noqa: E402
from lanternlm.data import TokenWindows  # noqa: E402
from lanternlm.eval import evaluate_windows, token_byte_lengths  # noqa: E402
from lanternlm.inspect.params import kv_cache_bytes_per_token  # noqa: E402
from lanternlm.nn.functional import softmax  # noqa: E402
from lanternlm.serve import create_app, load_models  # noqa: E402
from lanternlm.tokenizers.pretokenize import pre_split  # noqa: E402
from test_serve import post  # noqa: E402


def analogy_vectors() -> WordVectors:
    """Eight words built as royal/person/fruit + male/female directions (+ a little noise): king - man + woman
    is queen by construction."""
    torch.manual_seed(0)
    royal, person, fruit, male, female = torch.eye(6)[:5] * 3
    words = {"king": royal + male, "queen": royal + female, "man": person + male, "woman": person + female,
             "prince": royal + male * 0.8, "apple": fruit, "pear": fruit + torch.eye(6)[5],
             "girl": person + female * 0.7}
    return WordVectors(list(words), torch.stack(list(words.values())) + 0.05 * torch.randn(len(words), 6))


@pytest.fixture(scope="module")
def served(tiny_run):
    return next(iter(load_models([tiny_run], torch.device("cpu")).values()))


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app({served.name: served}, vectors=analogy_vectors())) as c:
        yield c


def test_trace_is_the_pipeline(client, served):
    data = post(client, "/api/trace", {"text": "ROMEO:", "temperature": 0.5})
    shapes = {s["name"]: s["shape"] for s in data["stages"]}
    assert shapes["token embedding"] == [6, 32] and shapes["logits"] == [6, served.tokenizer.vocab_size]
    assert [s["name"] for s in data["stages"] if s["kind"] == "layer"] == ["block 0", "block 1"]


def test_three_temperatures_are_softmax_of_the_same_logits(client, served):
    data = post(client, "/api/temperatures", {"text": "ROMEO:", "temperatures": [0.1, 1.0, 2.0], "top": 3})
    with torch.no_grad():
        logits = served.model(torch.tensor([served.tokenizer.encode("ROMEO:")])).logits[0, -1]
    entropies = []
    for panel in data["distributions"]:
        probs = softmax(logits, temperature=panel["temperature"])
        assert math.isclose(panel["tokens"][0]["prob"], float(probs.max()), rel_tol=1e-5)
        entropies.append(panel["entropy_bits"])
    assert entropies == sorted(entropies) and entropies[0] < entropies[2]  # sharper at low T, flatter at high T


def test_greedy_steps_are_argmax_decoding(client, served):
    data = post(client, "/api/greedy", {"text": "ROMEO:", "steps": 5, "top": 3})
    ids = served.tokenizer.encode("ROMEO:")
    for row in data["rows"]:
        with torch.no_grad():
            probs = torch.softmax(served.model(torch.tensor([ids])).logits[0, -1], -1)
        assert row["chosen"]["id"] == row["candidates"][0]["id"] == int(probs.argmax())
        assert [c["id"] for c in row["candidates"]] == probs.topk(3).indices.tolist()
        assert math.isclose(row["chosen"]["prob"], float(probs.max()), rel_tol=1e-5)
        ids.append(row["chosen"]["id"])
    assert data["text"] == served.tokenizer.decode(ids[6:])


def test_token_losses_average_to_evals_loss(client, served):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?"
    data = post(client, "/api/token-losses", {"text": text})
    result = evaluate_windows(served.model, TokenWindows.from_text(served.tokenizer, text), 32,
                              token_byte_lengths(served.tokenizer))
    assert math.isclose(data["loss"], result.loss, rel_tol=1e-9) and len(data["tokens"]) == len(text) - 1
    assert math.isclose(data["tokens"][-1]["running_mean"], result.loss, rel_tol=1e-6)
    assert data["first"]["text"] == "R"


def test_bpe_first_merge_is_the_most_frequent_pair(client):
    text = "banana bandana banana"
    data = post(client, "/api/bpe", {"text": text, "merges": 5})
    pairs = Counter(p for chunk in pre_split(text, "gpt2") for p in zip(chunk, chunk[1:]))
    (best, count), = pairs.most_common(1)
    first = data["steps"][1]
    assert tuple(first["pair"]) == best == ("a", "n") and first["count"] == count == 6
    assert first["top_pairs"][0] == {"pair": ["a", "n"], "count": 6}
    lengths = [len(step["tokens"]) for step in data["steps"]]
    assert lengths[0] == len(text) and all(a > b for a, b in zip(lengths, lengths[1:]))
    assert "".join(data["steps"][-1]["tokens"]) == text


def test_context_cost_follows_the_formulas(client, served):
    data = post(client, "/api/context-cost", {"dtype": "float16"})
    cost = data["model"][served.name]
    assert [p["context"] for p in cost["points"]] == [1, 2, 4, 8, 16, 32]
    per_token = kv_cache_bytes_per_token(served.model.config, "float16")
    assert per_token == 2 * 2 * 2 * 16 * 2  # K and V, layers, heads, d_head, bytes
    assert all(p["cache_bytes"] == per_token * p["context"] for p in cost["points"])
    assert all(p["attention_flops"] == 4 * 2 * p["context"] * 32 for p in cost["points"])
    assert {"gpt2", "shakespeare-char-cpu"} <= data["presets"].keys()


def test_word_vectors_answer_analogies(client):
    data = post(client, "/api/vectors/analogy", {"a": "man", "b": "king", "c": "woman", "k": 3})
    assert data["answers"][0]["text"] == "queen"
    assert post(client, "/api/vectors/neighbours", {"word": "apple", "k": 1})["neighbours"][0]["text"] == "pear"
    assert client.get("/api/vectors").json() == {"words": 8, "dim": 6}


BAD = [
    ("/api/trace", {"text": ""}, "text"), ("/api/trace", {"text": "a", "temperature": 0}, "temperature"),
    ("/api/trace", {"text": "a", "temperature": -1}, "temperature"), ("/api/trace", {"text": "日本"}, "vocabulary"),
    ("/api/temperatures", {"text": "a", "temperatures": [0.1, 0, 2]}, "temperatures"),
    ("/api/temperatures", {"text": "a", "temperatures": [-1.0]}, "temperatures"),
    ("/api/temperatures", {"text": "a", "temperatures": []}, "temperatures"),
    ("/api/greedy", {"text": "a", "steps": 0}, "steps"), ("/api/greedy", {"text": "a", "steps": 65}, "steps"),
    ("/api/token-losses", {"text": "a"}, "text"), ("/api/bpe", {"text": "a" * 2001}, "text"),
    ("/api/bpe", {"text": "ab", "merges": 0}, "merges"), ("/api/context-cost", {"dtype": "float8"}, "dtype"),
    ("/api/vectors/analogy", {"a": "man", "b": "king", "c": "dragon"}, "not in the vocabulary"),
]


@pytest.mark.parametrize("path, body, words", BAD)
def test_bad_input_is_4xx_json(client, path, body, words):
    data = post(client, path, body, status=400)
    assert words in data["error"]["message"]


def test_no_vectors_served_is_404(served):
    with TestClient(create_app({served.name: served})) as c:
        assert c.get("/api/vectors").json() == {"words": 0}
        response = c.post("/api/vectors/neighbours", json={"word": "king"})
        assert response.status_code == 404 and "--vectors" in response.json()["error"]["message"]

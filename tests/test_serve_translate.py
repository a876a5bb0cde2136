"""An encoder–decoder behind the server, in-process: /api/translate answers what the engine translates (greedy
and beam) with the cross-attention the model computes, and every endpoint that continues or looks into one
text refuses the translation model with a 400 (it needs a source), as /api/translate refuses a GPT."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.generate import Engine, GenerationConfig, translate  # noqa: E402
from lanternlm.generate.translate import alignment  # noqa: E402
from lanternlm.serve import create_app, load_models  # noqa: E402
from test_serve import post  # noqa: E402


@pytest.fixture(scope="module")
def served(translation_run, tiny_run):
    return load_models([translation_run[0], tiny_run], torch.device("cpu"))


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served)) as c:
        yield c


@pytest.mark.parametrize("beam", [1, 3])
def test_translate_endpoint_is_the_engine_and_its_cross_attention(client, served, translation_run, beam):
    model = served[translation_run[0].name]
    data = post(client, "/api/translate", {"model": model.name, "text": "I am cold.", "beam": beam})
    engine = Engine(model.model, model.tokenizer)
    expected = translate(engine, ["I am cold."], GenerationConfig(max_new_tokens=64, temperature=0.0,
                                                                   num_beams=beam))[0]
    assert data["translation"] == expected.text == "J'ai froid."
    weights = torch.tensor(data["layers"])
    assert torch.allclose(weights, alignment(engine, expected), atol=1e-4)  # rounded to 4 decimals
    assert weights.shape[-2:] == (len(data["target_tokens"]), len(data["source_tokens"]))
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-3)


def test_models_say_which_one_translates(client, translation_run, tiny_run):
    described = {m["id"]: m["translates"] for m in client.get("/api/models").json()["models"]}
    assert described == {translation_run[0].name: True, tiny_run.name: False}


@pytest.mark.parametrize("path, body", [
    ("/v1/completions", {"prompt": "Hello", "max_tokens": 3}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 3}),
    ("/api/next-token", {"text": "Hello"}),
    ("/api/trace", {"text": "Hello"}),
    ("/api/token-losses", {"text": "Hello there"}),
    ("/api/greedy", {"text": "Hello"}),
])
def test_one_text_endpoints_refuse_the_translation_model(client, translation_run, path, body):
    error = post(client, path, {"model": translation_run[0].name, **body}, status=400)["error"]
    assert "encoder–decoder" in error["message"] and "\n" not in error["message"]


def test_translate_endpoint_refuses_a_decoder_only_model(client, tiny_run):
    error = post(client, "/api/translate", {"model": tiny_run.name, "text": "Hello"}, status=400)["error"]
    assert "no encoder" in error["message"]

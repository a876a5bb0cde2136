"""One base, many adapters, per request: `lantern serve BASE --adapter NAME=PATH` lists BASE:NAME, a request's
`model` picks the adapter, served tokens equal the adapter's offline output (same seed) and the merged
model's, concurrent requests for different adapters do not leak into each other (they share the base's one
decoding session), the base weights are held once, and bad adapters / unknown names are one-line errors or 4xx JSON while the server keeps serving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from lanternlm.config import FinetuneConfig  # noqa: E402
from lanternlm.errors import LanternError  # noqa: E402
from lanternlm.finetune import load_adapter, merge_adapter, save_adapter  # noqa: E402
from lanternlm.generate import Engine, GenerationConfig  # noqa: E402
from lanternlm.models.adapted import ADAPTER, AdaptedLM, weights_fingerprint  # noqa: E402
from lanternlm.models.lora import attach_lora  # noqa: E402
from lanternlm.runs import load_run  # noqa: E402
from lanternlm.serve import ServeLimits, create_app, load_models  # noqa: E402
from lanternlm.serve.registry import attach_adapters, parse_adapters  # noqa: E402
from test_finetune import one_line_error  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def make_adapter(run, path, seed: int) -> None:
    """A LoRA adapter on `run` whose B factors are random (a trained adapter's stand-in: outputs change)."""
    loaded = load_run(run)
    attach_lora(loaded.model, ADAPTER, rank=4, alpha=8.0, targets=("q", "v", "o"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in loaded.model.named_parameters():
            if ".adapters." in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    finetune = FinetuneConfig(task="chat", method="lora", lora_rank=4, lora_alpha=8.0, lora_targets=["q", "v", "o"],
                              base_id=weights_fingerprint(loaded.model))
    save_adapter(AdaptedLM(loaded.model, None, (ADAPTER,)), finetune, path, str(run))


@pytest.fixture(scope="module")
def adapters(tiny_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapters")
    for name, seed in (("x", 1), ("y", 2)):
        make_adapter(tiny_run, folder / f"{name}.safetensors", seed)
    return {"x": folder / "x.safetensors", "y": folder / "y.safetensors"}


@pytest.fixture(scope="module")
def served(tiny_run, adapters):
    models = load_models([tiny_run], torch.device("cpu"))
    attach_adapters(models, adapters)
    return models


@pytest.fixture(scope="module")
def client(served, tiny_run):
    with TestClient(create_app(served, ServeLimits(max_new_tokens=64), runs_dir=tiny_run.parent)) as c:
        yield c


def complete(client, model: str, seed: int, status: int = 200) -> dict:
    response = client.post("/v1/completions", json={"model": model, "prompt": "KING:", "max_tokens": 24,
                                                   "temperature": 0.9, "seed": seed})
    assert response.status_code == status, response.text
    return response.json()


def offline(tiny_run, adapter, seed: int) -> str:
    """The adapter alone, on a freshly loaded base, no server."""
    base = load_run(tiny_run)
    view = load_adapter(base.model, adapter, "solo")
    return Engine(view, base.tokenizer).generate("KING:", config=GenerationConfig(max_new_tokens=24, temperature=0.9,
                                                                                 seed=seed))


def test_models_list_the_base_and_each_adapter(client, tiny_run):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == [tiny_run.name, f"{tiny_run.name}:x", f"{tiny_run.name}:y"]
    listing = client.get("/api/models").json()  # the playground's listing: the same models, no classifier
    assert [m["id"] for m in listing["models"]] == ids and listing["classifiers"] == []


def test_served_adapter_equals_offline_and_merged_outputs(client, tiny_run, adapters, tmp_path):
    name = tiny_run.name
    texts = {model: complete(client, model, seed=7)["choices"][0]["text"] for model in (name, f"{name}:x", f"{name}:y")}
    assert len(set(texts.values())) == 3  # each adapter changes what the base says
    assert texts[f"{name}:x"] == offline(tiny_run, adapters["x"], 7)
    assert texts[f"{name}:y"] == offline(tiny_run, adapters["y"], 7)
    merged = load_run(merge_adapter(adapters["x"], tmp_path / "merged"))
    view = load_adapter(load_run(tiny_run).model, adapters["x"], "solo")
    ids = torch.tensor([merged.tokenizer.encode("KING: the crown")])
    with torch.no_grad():
        torch.testing.assert_close(merged.model(ids).logits, view(ids).logits, atol=1e-4, rtol=1e-4)


def test_concurrent_requests_for_two_adapters_do_not_leak(client, tiny_run):
    name = tiny_run.name
    alone = {m: complete(client, m, seed=3)["choices"][0]["text"] for m in (f"{name}:x", f"{name}:y", name)}
    jobs = [f"{name}:x", f"{name}:y", name] * 3
    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(lambda m: (m, complete(client, m, seed=3)["choices"][0]["text"]), jobs))
    assert all(text == alone[m] for m, text in together)
    sessions = client.app.state.lantern.sessions
    assert list(sessions) == [client.app.state.lantern.models[name].model]  # base and adapters: one batch


def test_the_base_weights_are_held_once(served, tiny_run):
    base = served[tiny_run.name].model
    for adapter in ("x", "y"):
        view = served[f"{tiny_run.name}:{adapter}"].model
        assert view.base is base
    owned = {p.data_ptr() for p in base.parameters()}
    lora = [p for n, p in base.named_parameters() if ".adapters." in n]
    assert lora and sum(p.numel() for p in lora) < 0.2 * sum(p.numel() for p in base.parameters())
    assert len(owned) == len(list(base.parameters()))  # no weight was copied for an adapter


def test_unknown_model_is_404_and_the_server_keeps_serving(client, tiny_run):
    body = complete(client, f"{tiny_run.name}:nope", seed=1, status=404)
    assert "does not exist" in body["error"]["message"]
    complete(client, f"{tiny_run.name}:x", seed=1)


def test_adapter_for_another_base_is_refused(tiny_run, adapters, tmp_path):
    other = tmp_path / "other.safetensors"
    make_adapter(tiny_run, other, 5)
    models = load_models([tiny_run], torch.device("cpu"))
    with torch.no_grad():
        next(models[tiny_run.name].model.parameters()).add_(1.0)  # now a different base
    with pytest.raises(LanternError, match="was trained on base weights"):
        attach_adapters(models, {"z": other})


@pytest.mark.parametrize("spec, message", [("x", "NAME=PATH"), ("=a.safetensors", "NAME=PATH"),
                                           ("a:b=c.safetensors", "without ':'"), ("a=missing.safetensors", "missing")])
def test_adapter_specs_are_checked(spec, message):
    with pytest.raises(LanternError, match=message):
        parse_adapters([spec])


def test_serve_with_a_bad_adapter_is_one_line(tiny_run, tmp_path, capsys):
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    err = one_line_error(capsys, ["serve", str(tiny_run), "--adapter",
                                  f"j={tmp_path / 'junk.safetensors'}"])
    assert "not an adapter file" in err
    good = tmp_path / "good.safetensors"
    make_adapter(tiny_run, good, 3)
    err = one_line_error(capsys, ["serve", str(tiny_run), "--adapter", f"j={good}", "--adapter", f"j={good}"])
    assert "two adapters" in err


def make_classifier_adapter(run, path, labels=("neg", "pos"), seed: int = 9) -> None:
    """A LoRA classifier adapter (random head and B) on `run`."""
    from lanternlm.models.adapted import Classifier

    loaded = load_run(run)
    attach_lora(loaded.model, ADAPTER, rank=4, alpha=8.0, targets=("q", "v"))
    view = Classifier(loaded.model, len(labels), "last", None, (ADAPTER,))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in view.named_parameters():
            if ".adapters." in name or name.startswith("head."):
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    finetune = FinetuneConfig(task="classify", method="lora", lora_rank=4, lora_alpha=8.0, labels=list(labels),
                              max_length=24, base_id=weights_fingerprint(loaded.model))
    save_adapter(view, finetune, path, str(run))


def test_classifier_adapter_answers_on_v1_classify(tiny_run, adapters, tmp_path):
    from lanternlm.data.labelled import LabelledExamples

    path = tmp_path / "sentiment.safetensors"
    make_classifier_adapter(tiny_run, path)
    models = load_models([tiny_run], torch.device("cpu"))
    classifiers = attach_adapters(models, {"x": adapters["x"], "mood": path})
    texts = ["a fine and noble king", "O, woe is me"]
    view = load_adapter(load_run(tiny_run).model, path, "solo")
    loaded = load_run(tiny_run)
    expected = LabelledExamples.from_examples([(t, "neg") for t in texts], loaded.tokenizer, ["neg", "pos"],
                                              24).predict(view, torch.device("cpu"))
    with TestClient(create_app(models, ServeLimits(), runs_dir=tiny_run.parent, classifiers=classifiers)) as c:
        listing = c.get("/api/models").json()  # the playground's Classify tab learns the classifiers here
        assert listing["classifiers"] == [{"id": f"{tiny_run.name}:mood", "labels": ["neg", "pos"], "max_length": 24}]
        assert f"{tiny_run.name}:mood" not in {m["id"] for m in listing["models"]}  # it does not generate
        body = c.post("/v1/classify", json={"model": f"{tiny_run.name}:mood", "input": texts}).json()
        for row, probs in zip(body["data"], expected.tolist()):
            assert [row["scores"]["neg"], row["scores"]["pos"]] == pytest.approx(probs, abs=1e-5)
            assert row["label"] == ["neg", "pos"][int(probs[1] > probs[0])]
        assert c.post("/v1/classify", json={"model": "nope", "input": "hi"}).status_code == 404
        assert c.post("/v1/classify", json={"model": f"{tiny_run.name}:mood", "input": []}).status_code == 400
        assert c.post("/v1/classify", json={"model": f"{tiny_run.name}:mood", "input": "€€"}).status_code == 400
        assert c.post("/v1/completions", json={"model": f"{tiny_run.name}:x", "prompt": "KING:",
                                               "max_tokens": 4}).status_code == 200  # still serving

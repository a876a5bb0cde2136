"""From base model to assistant: chat data validated on load, the SFT loss on exactly the assistant's tokens
(hand-checked, multi-turn) with zero gradient elsewhere, DPO's loss against a hand computation, the LoRA
reference bit-exact, chat and DPO runs through the one trainer (resumed exactly), the data builders on the
shared data, and the bad input of these commands (one line, exit 2)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_finetune import one_line_error, write_jsonl

from lanternlm.config import ModelConfig
from lanternlm.data.chat import (
    ChatExamples,
    PreferencePairs,
    read_conversations,
    read_preferences,
)
from lanternlm.errors import LanternError
from lanternlm.models.base import IGNORE_INDEX
from lanternlm.models.gpt import GPT
from lanternlm.models.lora import attach_lora
from lanternlm.models.preference import PreferenceLM, dpo_loss, sequence_logprobs
from lanternlm.nn.lora import active_adapters
from lanternlm.tokenizers import CharTokenizer
from lanternlm.train.metrics import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Ciao"}]
TEXT = "SYSTEM:\nBe brief.\n\nUSER:\nHi\n\nASSISTANT:\nHello\n\nUSER:\nBye\n\nASSISTANT:\nCiao\n\n"


def test_loss_mask_covers_exactly_the_assistant_tokens_hand_checked_multi_turn():
    tokenizer = CharTokenizer.train(TEXT)
    rows = ChatExamples.from_conversations([CONVERSATION], tokenizer, max_tokens=200)
    inputs = rows.inputs_at(torch.tensor([0]))
    idx, targets = inputs["idx"][0].tolist(), inputs["targets"][0].tolist()
    assert tokenizer.decode(idx) == TEXT[:-1]  # the plain template, spelled out by hand
    # by hand: position t predicts character t + 1; the assistant's characters are its words and its "\n\n"
    first, second = TEXT.index("Hello"), TEXT.index("Ciao")
    expected = {t - 1 for t in list(range(first, first + 7)) + list(range(second, second + 6))}
    scored = {t for t, target in enumerate(targets) if target != IGNORE_INDEX}
    assert scored == expected
    assert "".join(TEXT[t + 1] for t in sorted(scored)) == "Hello\n\nCiao\n\n"
    assert all(targets[t] == idx[t + 1] for t in scored if t + 1 < len(idx))


def test_masked_positions_contribute_zero_gradient():
    tokenizer = CharTokenizer.train(TEXT)
    rows = ChatExamples.from_conversations([CONVERSATION, CONVERSATION[:3]], tokenizer, max_tokens=200)
    inputs = rows.inputs_at(torch.tensor([0, 1]))
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=tokenizer.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=16))
    out = model(inputs["idx"], inputs["targets"])
    out.logits.retain_grad()
    out.loss.backward()
    per_position = out.logits.grad.abs().sum(-1)
    scored = inputs["targets"] != IGNORE_INDEX
    assert torch.all(per_position[~scored] == 0)  # headers, user turns and the padding of the shorter row
    assert torch.all(per_position[scored] > 0)


def test_dpo_loss_equals_a_hand_computation():
    beta = 0.5
    policy_w, policy_l = torch.tensor([-3.0, -1.0]), torch.tensor([-4.0, -0.5])
    ref_w, ref_l = torch.tensor([-3.5, -1.2]), torch.tensor([-3.0, -0.9])
    loss, margins = dpo_loss(policy_w, policy_l, ref_w, ref_l, beta)
    # pair 1: 0.5·((−3 + 3.5) − (−4 + 3)) = 0.75; pair 2: 0.5·((−1 + 1.2) − (−0.5 + 0.9)) = −0.1
    assert margins.tolist() == pytest.approx([0.75, -0.1])
    by_hand = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(0.1))) / 2  # −log σ(m) = log(1 + e^−m)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)


def test_sequence_logprobs_sum_only_the_scored_tokens():
    logits = torch.randn(1, 3, 5)
    targets = torch.tensor([[IGNORE_INDEX, 2, 4]])
    logp = logits.log_softmax(-1)
    assert sequence_logprobs(logits, targets).item() == pytest.approx((logp[0, 1, 2] + logp[0, 2, 4]).item())


def tiny_policy(vocab: int, beta: float = 0.1) -> tuple[GPT, PreferenceLM]:
    torch.manual_seed(0)
    base = GPT(ModelConfig(vocab_size=vocab, block_size=64, n_layer=2, n_head=2, n_embd=16)).eval()
    base.requires_grad_(False)
    attach_lora(base, "adapter", rank=4, alpha=8, targets=("q", "v"))
    return base, PreferenceLM(base, ("adapter",), beta)


def pairs_tokens():
    pairs = [([{"role": "user", "content": "Is it good?"}], "yes", "no"),
             ([{"role": "user", "content": "Say hi"}], "hi", "bye there")]
    tokenizer = CharTokenizer.train("USER:\nASSISTANT:\n Is it good? yes no Say hi bye there")
    return PreferencePairs.from_pairs(pairs, tokenizer, max_tokens=60), tokenizer


def test_dpo_at_init_policy_equals_reference_loss_log2_and_identical_responses_give_zero_gradient():
    data, tokenizer = pairs_tokens()
    _, policy = tiny_policy(tokenizer.vocab_size)
    out = policy(**data.inputs_at(torch.tensor([0, 1])))
    assert torch.all(out.margins == 0)  # B = 0: the adapter adds nothing, π = π_ref exactly
    assert out.loss.item() == pytest.approx(math.log(2), abs=1e-7)
    out.loss.backward()
    real = gradient_norm(policy)  # a real preference: at init dL/dmargin = −σ(0) = −1/2, so B does learn
    inputs = data.inputs_at(torch.tensor([0, 1]))
    inputs["rejected"], inputs["rejected_targets"] = inputs["chosen"], inputs["chosen_targets"]
    policy(**inputs).loss.backward()
    assert real > 1e-3 and gradient_norm(policy) < 1e-6 * real  # identical responses: zero (up to rounding)


def gradient_norm(model) -> float:
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    norm = torch.stack([g.norm() for g in grads]).norm().item()
    model.zero_grad()
    return norm


def test_with_lora_the_adapter_off_is_the_reference_bit_exactly():
    data, tokenizer = pairs_tokens()
    base, policy = tiny_policy(tokenizer.vocab_size)
    torch.manual_seed(1)
    plain = GPT(base.config).eval()
    plain.load_state_dict({k: v for k, v in base.state_dict().items() if ".adapters." not in k})
    with torch.no_grad():
        for p in policy.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))  # a trained adapter: B no longer zero
    ids = data.inputs_at(torch.tensor([0, 1]))["chosen"]
    with torch.no_grad(), active_adapters():
        reference = base(ids).logits
    assert torch.equal(reference, plain(ids).logits)
    assert not torch.equal(policy(ids).logits, reference)


def test_chat_data_bad_input_is_a_one_line_error(tmp_path):
    cases = {
        "no assistant": {"messages": [{"role": "user", "content": "hi"}]},
        "unknown role": {"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}]},
        "not a list": {"messages": "hi"},
        "late system": {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                                     {"role": "assistant", "content": "c"}]},
    }
    for record in cases.values():
        path = write_jsonl(tmp_path / "c.jsonl", [record])
        with pytest.raises(LanternError, match="line 1"):
            read_conversations(path)
    pair_cases = [{"prompt": "x", "chosen": "", "rejected": "b"}, {"prompt": "x", "chosen": "a"},
                  {"prompt": "", "chosen": "a", "rejected": "b"}, {"prompt": "x", "chosen": "a", "rejected": "a"}]
    for record in pair_cases:
        with pytest.raises(LanternError, match="line 1"):
            read_preferences(write_jsonl(tmp_path / "p.jsonl", [record]))


# --- runs through the one trainer, on the session's tiny Shakespeare run (a char vocabulary) -----------------

def chat_rows(n: int = 48) -> list[dict]:
    rng = random.Random(0)
    words = ["king", "queen", "lord", "night", "love", "death"]
    rows = []
    for _ in range(n):
        word = rng.choice(words)
        rows.append({"messages": [{"role": "user", "content": f"Say {word}"},
                                  {"role": "assistant", "content": word}]})
    return rows


@pytest.fixture(scope="module")
def chat_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("chat") / "chat.jsonl", chat_rows())


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    rng = random.Random(1)
    rows = [{"prompt": f"Say {w}", "chosen": w, "rejected": "no"} for w in rng.choices(["king", "queen", "lord"], k=60)]
    return write_jsonl(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", rows)


def chat_args(base, data, out, *extra) -> list[str]:
    return ["finetune", "chat", "--base", str(base), "--data", str(data), "--out", str(out), "--batch-size", "8",
            "--epochs", "2", "-q", "--set", "checkpoint_interval=3", "--set", "eval_interval=3",
            "--set", "log_interval=1", "--set", "lr_decay_iters=12", *extra]


@pytest.mark.slow
def test_chat_lora_run_then_resume_is_exact(tiny_run, chat_file, tmp_path):
    from lanternlm.cli import main

    assert main(chat_args(tiny_run, chat_file, tmp_path / "whole", "--lr", "1e-2")) == 0
    whole = [r for r in read_metrics(tmp_path / "whole" / "metrics.jsonl") if "loss" in r]
    assert whole[-1]["step"] == 12 and whole[-1]["loss"] < whole[0]["loss"]  # 40 of 48 conversations train
    assert main(chat_args(tiny_run, chat_file, tmp_path / "half", "--lr", "1e-2", "--set", "max_iters=3")) == 0
    assert main(["finetune", "chat", "--out", str(tmp_path / "half"), "--resume", "-q",
                 "--set", f"max_iters={whole[-1]['step']}"]) == 0
    half = [r for r in read_metrics(tmp_path / "half" / "metrics.jsonl") if "loss" in r]
    assert [(r["step"], r["loss"]) for r in half] == [(r["step"], r["loss"]) for r in whole]
    resumed, straight = (load_file(tmp_path / name / "adapter.safetensors") for name in ("half", "whole"))
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_chat_full_then_dpo_lora_reports_margins_and_accuracy(tiny_run, chat_file, pairs_file, tmp_path, capsys):
    from lanternlm.cli import main

    assert main(chat_args(tiny_run, chat_file, tmp_path / "sft", "--method", "full")) == 0
    assert main(["finetune", "dpo", "--base", str(tmp_path / "sft"), "--data", str(pairs_file), "--out",
                 str(tmp_path / "dpo"), "--batch-size", "8", "--epochs", "4", "--lr", "2e-2", "--set", "eval_interval=7",
                 "-q"]) == 0
    assert "reward_margin" in capsys.readouterr().out
    evaluations = [r for r in read_metrics(tmp_path / "dpo" / "metrics.jsonl") if "val_loss" in r]
    assert evaluations[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-5)  # step 0: π = π_ref
    assert evaluations[0]["val_reward_margin"] == 0
    assert evaluations[-1]["val_accuracy"] > 0.5 and evaluations[-1]["val_reward_margin"] > 0
    assert any(key.startswith("lora.") for key in load_file(tmp_path / "dpo" / "adapter.safetensors"))


def test_builders_on_the_shared_data(shared_data, tmp_path):
    from lanternlm.cli import main

    sources = ["--translation", str(shared_data("translation/tatoeba_eng_fra_train.tsv")),
               "--sentiment", str(shared_data("sentiment/rt_polarity_train.jsonl")),
               "--stories", str(shared_data("corpora/tinystories_v1_train_head.txt")), "--per-task", "20"]
    assert main(["data", "chat", "--out", str(tmp_path / "c.jsonl"), *sources]) == 0
    conversations = read_conversations(tmp_path / "c.jsonl")
    prompts = [c[0]["content"] for c in conversations]
    assert len(conversations) == 60
    for start in ("Translate to French: ", "Is this review positive or negative? ", "Continue the story: "):
        assert sum(p.startswith(start) for p in prompts) == 20
    assert main(["data", "preferences", "--out", str(tmp_path / "p.jsonl"), *sources]) == 0
    pairs = read_preferences(tmp_path / "p.jsonl")
    sentiment = [(c, r) for prompt, c, r in pairs if prompt[0]["content"].startswith("Is this")]
    assert sentiment and all({c, r} == {"positive", "negative"} for c, r in sentiment)
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert main(["data", "chat", "--out", str(tmp_path / "again.jsonl"), *sources]) == 0
    assert (tmp_path / "again.jsonl").read_text().splitlines() == lines  # seeded: reproducible


@pytest.mark.parametrize("argv, message", [
    (["finetune", "chat", "--out", "{tmp}/o"], "give --base RUN and --data"),
    (["finetune", "chat", "--base", "{run}", "--data", "{chat}", "--out", "{tmp}/o", "--method", "head"], "head"),
    (["finetune", "chat", "--base", "{run}", "--data", "{chat}", "--out", "{tmp}/o", "--epochs", "0"], "--epochs"),
    (["finetune", "chat", "--base", "{run}", "--data", "{tmp}/missing.jsonl", "--out", "{tmp}/o"], "missing"),
    (["finetune", "chat", "--base", "{run}", "--data", "{bad_chat}", "--out", "{tmp}/o"], "no assistant turn"),
    (["finetune", "dpo", "--base", "{run}", "--data", "{bad_pairs}", "--out", "{tmp}/o"], "non-empty response"),
    (["finetune", "dpo", "--base", "{run}", "--data", "{chat}", "--out", "{tmp}/o"], "non-empty"),
    (["finetune", "dpo", "--base", "{run}", "--data", "{pairs}", "--out", "{tmp}/o", "--beta", "0"], "dpo_beta"),
    (["data", "chat", "--out", "{tmp}/c.jsonl"], "at least one source"),
    (["data", "chat", "--out", "{tmp}/c.jsonl", "--sentiment", "{chat}"], "0 or 1"),
    (["data", "preferences", "--out", "{tmp}/c.jsonl", "--translation", "{chat}", "--per-task", "0"], "per-task"),
])
def test_bad_input_is_one_line(argv, message, tiny_run, chat_file, pairs_file, tmp_path, capsys):
    bad_chat = write_jsonl(tmp_path / "bad_chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    bad_pairs = write_jsonl(tmp_path / "bad_pairs.jsonl", [{"prompt": "hi", "chosen": "a", "rejected": " "}])
    names = {"tmp": tmp_path, "run": tiny_run, "chat": chat_file, "pairs": pairs_file, "bad_chat": bad_chat,
             "bad_pairs": bad_pairs}
    err = one_line_error(capsys, [a.format(**names) for a in argv])
    assert message in err


def test_conversation_file_rows_are_json_objects(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(chat_rows(1)[0]) + "\n[1]\n")
    with pytest.raises(LanternError, match="line 2: expected a JSON object"):
        read_conversations(path)

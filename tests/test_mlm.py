"""Masked-language pretraining: BERT's masking (15 %; 80 % [MASK], 10 % random, 10 % kept), loss on the masked
positions only, accuracy in metrics.jsonl and `lantern eval`, exact resume, documents separated by [SEP]."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import BERT_TINY_OVERRIDES, run_cli
from lanternlm.config import resolve_config
from lanternlm.data import TokenWindows
from lanternlm.data.masked import MaskedWindows, MaskingRule
from lanternlm.data.tokenfile import load_prepared
from lanternlm.eval import evaluate_masked
from lanternlm.models import IGNORE_INDEX
from lanternlm.runs import load_run
from lanternlm.tokenizers import WordPieceTokenizer, load_tokenizer
from lanternlm.train import train
from lanternlm.train.metrics import read_metrics

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def word_tokenizer(n_words: int = 2000) -> WordPieceTokenizer:
    return WordPieceTokenizer(SPECIALS + [f"w{i}" for i in range(n_words)])


def stream(tok: WordPieceTokenizer, n: int, seed: int = 0) -> TokenWindows:
    """Random ordinary ids with a [SEP] every ~50 tokens and an [UNK] every ~40 (specials never to be masked)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(len(SPECIALS), tok.vocab_size, n)
    ids[rng.random(n) < 0.02] = tok.sep_id
    ids[rng.random(n) < 0.025] = tok.unk_id
    return TokenWindows(torch.from_numpy(ids), "train")


def test_masking_statistics_are_bert_s():
    tok = word_tokenizer()
    data = MaskedWindows(stream(tok, 300_000), MaskingRule(tok, 0.15), seed=3)
    starts = torch.arange(0, 300_000 - 128, 127)  # 2,361 windows of 128
    batch = data.inputs_at(starts, 128)
    ids, targets = batch["ids"], batch["targets"]
    original = torch.cat([torch.full((len(starts), 1), tok.cls_id), data.stream.windows_at(starts, 127)[0]], 1)
    special = torch.isin(original, torch.tensor(list(tok.special_tokens.values())))
    chosen = targets != IGNORE_INDEX

    assert (ids[:, 0] == tok.cls_id).all()
    assert not (chosen & special).any()  # [CLS], [SEP], [UNK] are never chosen
    per_window = chosen.sum(1)
    expected = ((~special).sum(1).double() * 0.15).round().clamp_min(1).long()
    assert torch.equal(per_window, expected)  # exactly round(15 %) of the ordinary tokens of every window
    assert torch.equal(targets[chosen], original[chosen])  # the target is the original token
    assert torch.equal(ids[~chosen], original[~chosen])  # nothing else is touched

    n = int(chosen.sum())  # ~ 43,000 chosen positions
    masked = (ids[chosen] == tok.mask_id).float().mean().item()
    random = ((ids[chosen] != tok.mask_id) & (ids[chosen] != original[chosen])).float().mean().item()
    kept = (ids[chosen] == original[chosen]).float().mean().item()
    p_same = 1 / (tok.vocab_size - len(SPECIALS))  # a random replacement may draw the original token
    for share, p in ((masked, 0.8), (random, 0.1 * (1 - p_same)), (kept, 0.1 * (1 + p_same))):
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n), (share, p)
    replaced = ids[chosen][(ids[chosen] != tok.mask_id) & (ids[chosen] != original[chosen])]
    assert not torch.isin(replaced, torch.tensor(list(tok.special_tokens.values()))).any()
    # every ordinary position is equally likely to be chosen (15 % each, within sampling error)
    rate = (chosen.float().sum(0) / (~special).float().sum(0))[1:]
    assert (rate - 0.15).abs().max() < 5 * math.sqrt(0.15 * 0.85 / len(starts))


def test_masks_are_a_pure_function_of_seed_and_start():
    tok = word_tokenizer(50)
    data = stream(tok, 5_000)
    a = MaskedWindows(data, MaskingRule(tok), seed=1)
    b = MaskedWindows(data, MaskingRule(tok), seed=1)
    first = a.inputs_at(torch.tensor([10, 700, 2_000]), 64)
    again = b.inputs_at(torch.tensor([2_000, 10]), 64)  # another batch, another order, another object
    assert torch.equal(first["ids"][[2, 0]], again["ids"]) and torch.equal(first["targets"][[2, 0]], again["targets"])
    other_seed = MaskedWindows(data, MaskingRule(tok), seed=2).inputs_at(torch.tensor([10, 700, 2_000]), 64)
    assert not torch.equal(other_seed["targets"], first["targets"])
    other_start = a.inputs_at(torch.tensor([11]), 64)  # the same tokens one place on: drawn afresh
    assert not torch.equal(other_start["targets"][0, 1:-1] != IGNORE_INDEX, first["targets"][0, 2:] != IGNORE_INDEX)


def test_rule_needs_cls_and_mask_tokens():
    from lanternlm.errors import LanternError
    from lanternlm.tokenizers import CharTokenizer

    with pytest.raises(LanternError, match=r"\[CLS\] and \[MASK\]"):
        MaskingRule(CharTokenizer.train("abc"))


def test_loss_comes_from_the_masked_positions_only(tiny_bert_run, wordpiece_data):
    run = load_run(tiny_bert_run)
    _, val, _ = load_prepared(wordpiece_data)
    data = MaskedWindows(val, MaskingRule(run.tokenizer), seed=0)
    batch = data.inputs_at(torch.tensor([0, 100, 333]), 32)
    with torch.no_grad():
        out = run.model(**batch)
        full = run.model(batch["ids"]).logits
    chosen = batch["targets"] != IGNORE_INDEX
    by_hand = F.cross_entropy(full[chosen], batch["targets"][chosen])
    torch.testing.assert_close(out.loss, by_hand)
    hits = (full[chosen].argmax(-1) == batch["targets"][chosen]).float().mean()
    torch.testing.assert_close(out.metrics["accuracy"], hits)


def test_prepare_joins_wordpiece_documents_with_sep(wordpiece_data):
    tok = load_tokenizer(wordpiece_data)
    train_ids, val_ids, header = load_prepared(wordpiece_data)
    ids = np.concatenate([np.asarray(train_ids.ids), np.asarray(val_ids.ids)])
    assert header["eot_id"] is None and (ids == tok.sep_id).sum() == 3  # 4 documents in one file
    assert "endoftext" not in tok.decode(ids.tolist())


def test_training_logs_masked_accuracy(tiny_bert_run):
    records = read_metrics(tiny_bert_run / "metrics.jsonl")
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [0, 20, 40]
    for r in evals:
        assert 0.0 <= r["val_accuracy"] <= 1.0 and 0.0 <= r["train_accuracy_eval"] <= 1.0
    assert evals[-1]["val_loss"] < evals[0]["val_loss"] - 0.5  # it learns: ln(600) = 6.4 at the start
    assert evals[-1]["val_accuracy"] > evals[0]["val_accuracy"]
    logged = [r for r in records if "loss" in r]
    assert len(logged) == 40 and all(0.0 <= r["accuracy"] <= 1.0 for r in logged)


@pytest.mark.parametrize("sampling", ["random", "epoch"])
def test_two_part_training_equals_one_run(tmp_path, wordpiece_data, sampling, one_thread):
    def config(max_iters):
        return resolve_config("bert-tinystories-cpu", overrides=BERT_TINY_OVERRIDES + [
            f"max_iters={max_iters}", "lr_decay_iters=16", "eval_interval=8", "checkpoint_interval=8",
            "dropout=0.1", f"window_sampling={sampling}", f"data_dir={wordpiece_data}"])

    train(config(16), tmp_path / "straight", quiet=True)
    train(config(8), tmp_path / "parts", quiet=True)
    train(config(16), tmp_path / "parts", resume=True, quiet=True)

    def figures(run):
        return [{k: v for k, v in r.items() if k not in ("tokens_per_sec", "mfu", "peak_memory_mb")}
                for r in read_metrics(run / "metrics.jsonl") if "summary" not in r]

    assert figures(tmp_path / "parts") == figures(tmp_path / "straight")  # losses and accuracies, bit for bit
    a, b = load_run(tmp_path / "straight").model, load_run(tmp_path / "parts").model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_lantern_eval_scores_masked_tokens(tiny_bert_run, wordpiece_data):
    result = run_cli("eval", str(tiny_bert_run), "-q")
    assert result.returncode == 0, result.stderr
    assert "masked-token loss" in result.stdout and "accuracy" in result.stdout
    run = load_run(tiny_bert_run)
    _, val, _ = load_prepared(wordpiece_data)
    data = MaskedWindows(val, MaskingRule(run.tokenizer), seed=run.config.train.seed)
    expected = evaluate_masked(run.model, data, 32, batch_size=7)  # another batching, the same figures
    assert f"masked-token loss {expected.loss:.4f}" in result.stdout
    assert f"accuracy {100 * expected.accuracy:.2f} % ({expected.tokens:,} masked tokens)" in result.stdout
    windows = len(data.sequential_starts(32))
    assert expected.tokens == sum(int((data.inputs_at(torch.tensor([s]), 32)["targets"] != IGNORE_INDEX).sum())
                                  for s in data.sequential_starts(32).tolist()) and windows > 10


def test_bert_run_needs_a_wordpiece_tokenizer(tmp_path):
    result = run_cli("train", "--set", "family=bert", "--set", "norm_placement=post", "--set", "max_iters=1",
                     "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "[CLS] and [MASK]" in result.stderr and not (tmp_path / "run").exists()


def test_prepare_separates_files_and_endoftext_with_sep(tmp_path):
    from lanternlm.data.prepare import prepare

    tok = word_tokenizer(5)
    tok.save(tmp_path / "tok.json")
    (tmp_path / "a.txt").write_text("w0 w1\n<|endoftext|>\nw2 w3\n")
    (tmp_path / "b.txt").write_text("w4 w0 w1 w2 w3 w4 w0 w1 w2 w3\n")
    prepare(tmp_path / "tok.json", [tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "data", val_fraction=0.0,
            workers=1)
    train_ids, _, _ = load_prepared(tmp_path / "data")
    words = [tok.token_text(i) for i in np.asarray(train_ids.ids)]
    assert words == ["w0", "w1", "[SEP]", "w2", "w3", "[SEP]", "w4", "w0", "w1", "w2", "w3", "w4", "w0", "w1", "w2",
                     "w3"]

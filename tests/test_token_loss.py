"""Per-token loss: −log p of every scored token, whose mean is the evaluation's cross-entropy (`lantern eval
--tokens`), checked against a plain forward pass."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from lanternlm.cli import main
from lanternlm.data import TokenWindows
from lanternlm.eval import evaluate_windows, token_byte_lengths
from lanternlm.runs import load_run

pytestmark = pytest.mark.usefixtures("one_thread")
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"


@pytest.mark.parametrize("stride", [None, 8])
def test_per_token_losses_average_to_the_eval_loss(tiny_run, stride):
    run = load_run(tiny_run)
    data = TokenWindows.from_text(run.tokenizer, TEXT)  # 95 tokens, block_size 32: several windows
    per_token = []
    result = evaluate_windows(run.model, data, 32, token_byte_lengths(run.tokenizer), stride=stride,
                              on_scored=lambda ids, nll: per_token.extend(zip(ids.tolist(), nll.tolist())))
    assert [i for i, _ in per_token] == run.tokenizer.encode(TEXT)[1:]  # every token but the first, in order
    mean = sum(n for _, n in per_token) / len(per_token)
    assert math.isclose(mean, result.loss, rel_tol=1e-6)  # the loss sums float32 per window
    assert result.tokens == len(per_token) == len(TEXT) - 1


def test_per_token_loss_is_minus_log_p_of_a_plain_forward_pass(tiny_run):
    run = load_run(tiny_run)
    ids = torch.tensor(run.tokenizer.encode(TEXT[:33]))  # one window: every token sees all before it
    per_token = []
    result = evaluate_windows(run.model, TokenWindows(ids), 32, token_byte_lengths(run.tokenizer),
                              on_scored=lambda ids, nll: per_token.extend(nll.tolist()))
    with torch.no_grad():
        logp = F.log_softmax(run.model(ids[None, :-1]).logits[0].float(), dim=-1)
    direct = -logp.gather(1, ids[1:, None]).squeeze(1)
    torch.testing.assert_close(torch.tensor(per_token), direct, atol=1e-5, rtol=0)
    assert math.isclose(result.loss, direct.mean().item(), rel_tol=1e-5)


def test_cli_prints_each_token_and_the_running_mean(tiny_run, tmp_path, capsys):
    text_file = tmp_path / "romeo.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    assert main(["eval", str(tiny_run), "--input", str(text_file), "--tokens", "-q"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+)\s+('.*?'|\".*?\")\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, flags=re.M)
    assert len(rows) == len(TEXT) - 1 and rows[0][1] == "'O'"  # 'R' is context only
    for _, _, p, nll, _ in rows:
        assert abs(float(p) - math.exp(-float(nll))) < 1e-4
    loss = float(re.search(r"loss ([\d.]+) nats/token", out).group(1))
    assert float(rows[-1][4]) == loss  # the running mean after the last token is the cross-entropy
    assert out.startswith(TEXT.split("\n")[0])  # the text itself comes first, coloured by surprise

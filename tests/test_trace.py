"""`lantern trace` / `inspect.trace`: every stage of one forward pass, for every family and option combination.
Shapes follow the config, the recorded logits are the model's, neuron and entropy figures equal direct
computations, the one-hot product is the lookup, and bad input is a one-line error."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from lanternlm.cli import main
from lanternlm.errors import LanternError
from lanternlm.inspect.trace import render, trace
from lanternlm.nn.functional import softmax
from lanternlm.tokenizers import CharTokenizer
from conftest import perturbed_model
from test_model_family import COMBOS, combo_id

pytestmark = pytest.mark.usefixtures("one_thread")
TOKENIZER = CharTokenizer.train("".join(chr(48 + i) for i in range(40)))  # '0' .. 'W'
TEXT = "HELLO0123456789"  # 15 tokens
OTHER_FAMILIES = {
    "bert": dict(family="bert", norm_placement="post", type_vocab_size=2),
    "bert-pre-nohead": dict(family="bert", mlm_head=False),
    "mlp": dict(family="mlp", context_tokens=3, d_ff=40),
    "gru": dict(family="rnn"),
    "lstm": dict(family="rnn", rnn_cell="lstm"),
}
CASES = {**{f"gpt-{combo_id(c)}": dict(c) for c in COMBOS}, **OTHER_FAMILIES}


def model_for(**options):
    model = perturbed_model(TOKENIZER.vocab_size, 32, **options)  # 2 layers, 4 heads, 32 dims
    model.config.validate()
    return model


@pytest.mark.parametrize("name", CASES)
def test_shapes_follow_the_config_and_logits_are_the_models(name):
    model = model_for(**CASES[name])
    c, T, V = model.config, len(TEXT), TOKENIZER.vocab_size
    t = trace(model, TOKENIZER, TEXT, temperature=0.7)
    shapes = {s.name: s.shape for s in t.stages}
    assert [tok["text"] for tok in t.tokens] == list(TEXT) and t.truncated == 0
    assert shapes["token embedding"] == [T, c.n_embd] and t.one_hot_max_difference == 0
    assert ("position embedding" in shapes) == (c.family in ("gpt", "bert") and c.position in ("learned", "sinusoidal"))
    layers = [s for s in t.stages if s.kind == "layer"]
    transformer = c.family in ("gpt", "bert")
    expected_layers = c.n_layer if c.family != "rnn" else 1  # nn.GRU runs its layers as one module
    width = c.ff_dim if c.family == "mlp" else c.n_embd
    assert [s.shape for s in layers] == [[T, width]] * expected_layers
    for s in layers:
        assert len(s.norms) == T
        assert (len(s.attention_entropy_bits) if s.attention_entropy_bits else 0) == (c.n_head if transformer else 0)
        has_neurons = c.family == "mlp" or (transformer and not c.n_expert)
        assert (s.active_fraction is not None and len(s.active_fraction) == T) == has_neurons
    assert ("final norm" in shapes) == (transformer and c.norm_placement == "pre")
    if c.family == "bert" and not c.mlm_head:
        assert t.logits is None and t.chosen is None
        return
    with torch.no_grad():
        plain = model(torch.tensor([TOKENIZER.encode(TEXT)])).logits[0]
    assert torch.equal(t.logits, plain)  # the recorded logits are a plain forward pass
    assert shapes["logits"] == [T, V] and shapes["probabilities softmax(z / 0.7)"] == [V]
    probs = softmax(plain[-1], temperature=0.7)
    assert t.chosen["id"] == int(probs.argmax()) and math.isclose(t.chosen["prob"], float(probs.max()), rel_tol=1e-6)
    assert "chosen (the most likely)" in render(t)


def test_input_embedding_is_token_plus_position_and_enters_block_0():
    model = model_for()
    t = trace(model, TOKENIZER, TEXT)
    stage = {s.name: s for s in t.stages}["input embedding = token + position"]
    ids = torch.tensor([TOKENIZER.encode(TEXT)])
    with torch.no_grad():
        expected = model.wte(ids)[0] + model.wpe(len(TEXT))
    assert stage.values == [round(v, 4) for v in expected[-1, :6].tolist()]
    torch.testing.assert_close(model.embed(ids)[0], expected)  # what block 0 reads


def test_active_neurons_and_attention_entropy_equal_direct_computations():
    model = model_for(activation="gelu")
    t = trace(model, TOKENIZER, TEXT)
    ids = torch.tensor([TOKENIZER.encode(TEXT)])
    with torch.no_grad():
        x = model.embed(ids)
        maps = model.attention_maps(ids)
        for i, (block, stage) in enumerate(zip(model.blocks, [s for s in t.stages if s.kind == "layer"])):
            mid = x + block.attn(block.ln_1(x))[0]
            hidden = block.mlp.act(block.mlp.c_fc(block.ln_2(mid)))[0]  # (T, d_ff) post-activation
            count = (hidden > 0).sum(-1).float() / hidden.size(-1)
            torch.testing.assert_close(torch.tensor(stage.active_fraction), count, atol=1e-4, rtol=0)
            w = maps[i][0]
            entropy = [-(row * torch.log2(row)).nansum().item() for head in w for row in head]
            per_head = torch.tensor(entropy).view(w.size(0), -1).mean(-1)
            torch.testing.assert_close(torch.tensor(stage.attention_entropy_bits), per_head, atol=1e-4, rtol=0)
            x = block(x)[0]
            torch.testing.assert_close(torch.tensor(stage.norms), x[0].norm(dim=-1), atol=1e-4, rtol=0)


def test_mlp_family_neurons_are_its_tanh_units():
    model = model_for(**OTHER_FAMILIES["mlp"])
    t = trace(model, TOKENIZER, TEXT)
    with torch.no_grad():
        h = model.hidden[0](model.window(model.wte(torch.tensor([TOKENIZER.encode(TEXT)]))))[0]
    first = next(s for s in t.stages if s.kind == "layer")
    torch.testing.assert_close(torch.tensor(first.active_fraction), (h > 0).float().mean(-1), atol=1e-4, rtol=0)
    assert {s.name: s.shape for s in t.stages}["context window (last 3 embeddings concatenated)"] == [15, 96]


def test_the_embedding_lookup_is_a_one_hot_product():
    model = model_for()
    E = model.token_embeddings()
    ids = torch.tensor(TOKENIZER.encode(TEXT))
    one_hot = F.one_hot(ids, E.size(0)).float()  # (T, |V|): a single 1 per row
    assert one_hot.sum(-1).eq(1).all()
    assert torch.equal(one_hot @ E, model.wte(ids))  # exactly, not approximately


def test_a_long_text_keeps_the_context_window():
    t = trace(model_for(), TOKENIZER, "0123456789" * 4)  # 40 tokens, block_size 32
    assert len(t.tokens) == 32 and t.truncated == 8 and t.stages[0].shape == [32, 32]


def test_bad_input_is_a_one_line_error():
    model = model_for()
    with pytest.raises(LanternError, match="the text to trace is empty"):
        trace(model, TOKENIZER, "")
    for temperature in (0, -1, float("nan"), float("inf")):
        with pytest.raises(LanternError, match="temperature must be a finite number > 0"):
            trace(model, TOKENIZER, TEXT, temperature=temperature)
    with pytest.raises(LanternError, match="not in the vocabulary"):
        trace(model, TOKENIZER, "hello")


def test_cli_prints_the_trace_and_json(tiny_run, capsys):
    assert main(["trace", str(tiny_run), "ROMEO:", "--temperature", "0.5"]) == 0
    out = capsys.readouterr().out
    for text in ("tokens", "token embedding", "one_hot(ids) (6 x 65) @ E (65 x 32) == E[ids]: max |difference| 0",
                 "block 1", "attention entropy per head", "neurons active", "final norm", "logits   ",
                 "probabilities softmax(z / 0.5)", "chosen (the most likely)"):
        assert text in out
    assert main(["trace", str(tiny_run), "ROMEO:", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["family"] == "gpt" and [s["shape"] for s in data["stages"]][:2] == [[6, 32], [6, 32]]
    for args in (["trace", str(tiny_run), ""], ["trace", str(tiny_run), "ROMEO:", "-t", "0"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1

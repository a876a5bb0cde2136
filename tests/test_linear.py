"""The row-split Linear (few-row CPU products on every core) computes exactly what nn.Linear computes.

`torch.get_num_threads` is patched so the split path runs with 2-4 blocks whatever the machine (the blocks are
a batch of products, correct on any number of real threads)."""

import pytest
import torch
import torch.nn.functional as F

from conftest import perturbed_model
from lanternlm.generate import Engine
from lanternlm.generate.decoder import Decoder
from lanternlm.nn import linear as linear_module
from lanternlm.nn.linear import SPLIT_MAX_ROWS, Linear, row_split_linear
from lanternlm.tokenizers import CharTokenizer


@pytest.mark.parametrize("blocks", [2, 3, 4])
@pytest.mark.parametrize("out_features", [7, 12, 50])
@pytest.mark.parametrize("bias", [True, False])
def test_row_split_linear_equals_linear_values_and_gradients(blocks, out_features, bias):
    torch.manual_seed(blocks * 100 + out_features)
    weight = torch.randn(out_features, 16, requires_grad=True)
    b = torch.randn(out_features, requires_grad=True) if bias else None
    for shape in [(1, 16), (3, 1, 16), (2, 5, 16)]:
        x = torch.randn(shape, requires_grad=True)
        ours, reference = row_split_linear(x, weight, b, blocks), F.linear(x, weight, b)
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
        upstream = torch.randn_like(reference)
        params = [x, weight] + ([b] if bias else [])
        ours_grads = torch.autograd.grad(ours, params, upstream)
        reference_grads = torch.autograd.grad(reference, params, upstream)
        for g_ours, g_ref in zip(ours_grads, reference_grads):
            torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-5)


def test_linear_splits_only_few_row_inputs(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    calls = []

    def spy(*args):
        calls.append(args[0].shape)
        return row_split_linear(*args)

    monkeypatch.setattr(linear_module, "row_split_linear", spy)
    layer = Linear(16, 10)
    for rows, split in [(1, True), (SPLIT_MAX_ROWS, True), (SPLIT_MAX_ROWS + 1, False)]:
        calls.clear()
        x = torch.randn(rows, 16)
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias), rtol=0, atol=1e-5)
        assert bool(calls) == split, rows


def test_state_dict_is_nn_linear_s():
    layer, reference = Linear(8, 4), torch.nn.Linear(8, 4)
    reference.load_state_dict(layer.state_dict())
    assert list(layer.state_dict()) == list(reference.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize("options", [{}, dict(position="rope", n_kv_head=2, norm="rmsnorm", activation="swiglu")])
def test_generation_with_split_products_matches_unsplit(monkeypatch, options):
    """Cached decoding through split products == uncached decoding (1e-5) and == generation without splits."""
    tokenizer = CharTokenizer(list("abcdefgh "))
    model = perturbed_model(tokenizer.vocab_size, 16, **options)
    unsplit = Engine(model, tokenizer).generate("abcab", 24, temperature=0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert Engine(model, tokenizer).generate("abcab", 24, temperature=0) == unsplit
    cached, uncached = Decoder(model, use_cache=True), Decoder(model, use_cache=False)
    a, b = cached.prefill([[1, 2, 3]]), uncached.prefill([[1, 2, 3]])
    for token in [4, 5, 6, 7, 0, 1]:
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        a, b = cached.step(torch.tensor([token])), uncached.step(torch.tensor([token]))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)

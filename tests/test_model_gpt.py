import math

import torch

from lanternlm.config import ModelConfig
from lanternlm.models import build_model
from lanternlm.runs import load_weights, save_weights


def tiny(**kw):
    return ModelConfig(**{"vocab_size": 65, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32, **kw})


def test_initial_loss_is_uniform_guess():
    torch.manual_seed(0)
    model = build_model(tiny())
    x, y = torch.randint(65, (8, 32)), torch.randint(65, (8, 32))
    assert abs(model(x, y).loss.item() - math.log(65)) < 0.1


def test_one_batch_overfits():
    torch.manual_seed(0)
    model = build_model(tiny())
    x = torch.randint(65, (4, 32))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model(x, y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_weights_tied_and_gpt2_init():
    torch.manual_seed(0)
    model = build_model(tiny(n_layer=8, n_embd=64))
    assert model.lm_head.weight is model.wte.weight
    assert abs(model.blocks[0].attn.c_attn.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.c_proj.weight.std().item() - 0.02 / math.sqrt(16)) < 0.001


def test_save_load_identical_logits(tmp_path):
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    save_weights(model, tmp_path / "m.safetensors")
    torch.manual_seed(1)
    other = build_model(tiny()).eval()
    x = torch.randint(65, (2, 32))
    assert not torch.equal(model(x).logits, other(x).logits)
    load_weights(other, tmp_path / "m.safetensors")
    assert torch.equal(model(x).logits, other(x).logits)
    assert other.lm_head.weight is other.wte.weight

"""Int8 weights: the rounding bound of per-row symmetric quantization, the int8 layer against a float product
with the same (dequantized) weights, a quantized model's logits near the float model's, the run written by
`lantern quantize` equal to quantizing at load, and the refusals (twice, on a device without the kernels,
training from int8 weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import perturbed_model
from lanternlm.cli import main
from lanternlm.errors import LanternError
from lanternlm.nn import Linear
from lanternlm.nn.quantized import QMAX, Int8Linear, int8_kernels_available, quantize_linears, quantize_rows
from lanternlm.runs import load_run, quantize_run

pytestmark = pytest.mark.skipif(not int8_kernels_available(), reason="no x86/fbgemm int8 kernels in this torch")


def test_rounding_error_is_at_most_half_a_step_per_row():
    torch.manual_seed(0)
    weight = torch.randn(40, 64) * torch.logspace(-3, 1, 40)[:, None]  # rows of very different sizes
    q, scale = quantize_rows(weight)
    assert q.dtype == torch.int8 and q.abs().max() == QMAX  # each row's largest weight uses the full range
    error = (scale[:, None] * q.float() - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    assert torch.equal(q, quantize_rows(scale[:, None] * q.float())[0])  # quantizing a grid point is exact


def test_int8_layer_equals_the_float_product_of_its_dequantized_weights_up_to_activation_rounding():
    torch.manual_seed(1)
    layer = Linear(96, 80)
    int8 = Int8Linear.from_float(layer)
    x = torch.randn(3, 7, 96)
    reference = F.linear(x, int8.dequantized_weight(), int8.bias)
    # activations are rounded to 8 bits per call: an error of about |x|max / 255 per input, summed over a row
    bound = (x.abs().max() / 255) * int8.dequantized_weight().abs().sum(1).max()
    assert (int8(x) - reference).abs().max() <= bound
    assert int8(x).shape == (3, 7, 80)


@pytest.mark.parametrize("options", [{}, dict(position="rope", n_kv_head=2, activation="swiglu", bias=False)])
def test_quantized_model_logits_stay_close_to_the_float_model(options):
    model = perturbed_model(40, 16, seed=2, **options)
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = model(ids).logits
        after = quantize_linears(model)(ids).logits
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    relative = (after - before).abs().max() / before.abs().max()
    assert 0 < relative < 0.1  # random weights far from init are the hard case: real runs see far less (RESULTS.md)
    assert (after.argmax(-1) == before.argmax(-1)).float().mean() > 0.9


def test_quantize_command_writes_a_run_equal_to_quantizing_at_load(tiny_run, tmp_path, capsys):
    out = tmp_path / "int8"
    assert main(["quantize", str(tiny_run), "--out", str(out)]) == 0
    assert "Linear layers to int8" in capsys.readouterr().out
    stored, at_load = load_run(out), load_run(tiny_run, quantize="int8")
    assert stored.config.model.quantization == "int8"
    ids = torch.tensor([stored.tokenizer.encode("KING RICHARD:")])
    with torch.no_grad():
        assert torch.equal(stored.model(ids).logits, at_load.model(ids).logits)
    assert (out / "model.safetensors").stat().st_size < 0.6 * (tiny_run / "model.safetensors").stat().st_size
    assert main(["sample", str(out), "-n", "5", "--seed", "1"]) == 0  # every generating command takes it


def test_refusals(tiny_run, tmp_path):
    out = tmp_path / "int8"
    quantize_run(tiny_run, out)
    with pytest.raises(LanternError, match="already quantized"):
        quantize_run(out, tmp_path / "twice")
    with pytest.raises(LanternError, match="int8 kernels"):
        load_run(tiny_run, "meta", quantize="int8")
    with pytest.raises(LanternError, match="not an empty folder"):
        quantize_run(tiny_run, out)
    assert main(["train", "--out", str(tmp_path / "ft"), "--init-from", str(out), "--set", "max_iters=2"]) == 2
    assert main(["sample", str(tiny_run), "--dtype", "int4"]) == 2

"""Int8 weights for inference: a linear layer whose matrix is stored as 8-bit integers, one scale per row.

Symmetric per-output-channel quantization: for each output row o of W,

    s[o] = max_i |W[o, i]| / 127,    q[o, i] = round(W[o, i] / s[o]) ∈ [-127, 127],    W[o, i] ≈ s[o] · q[o, i]

so each weight costs 1 byte instead of 4 and the rounding error of a weight is at most s[o] / 2. Decoding one
token reads every weight once, so a quarter of the bytes means up to 4x the tokens per second on a
memory-bound CPU. The product runs on PyTorch's int8 CPU kernels (fbgemm, x86): the activations are quantized
on the fly, per call, to 8 bits as well, multiplied in int8 × int8 → int32, and scaled back to float.
Measured, not assumed: `torch._weight_int8pack_mm` (int8 weights, float activations) is slower than fp32 on a
CPU without VNNI; the dynamic fbgemm kernel is the fast one (benchmarks/generate_hf.py).

`quantize_linears(model)` swaps a model's `Linear` layers for `Int8Linear`; the model code stays one model.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

QMAX = 127  # symmetric: -127..127, so 0 is exact and the range is the same on both sides


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 (out, in), s float32 (out,)) with W ≈ s[:, None] * q, one scale per output row."""
    scale = weight.detach().abs().amax(dim=1).float().clamp_min(1e-12) / QMAX
    q = torch.round(weight.detach().float() / scale[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)
    return q, scale


def int8_kernels_available() -> bool:
    """Whether this PyTorch has the x86/fbgemm int8 CPU kernels the quantized layers run on."""
    return any(engine in torch.backends.quantized.supported_engines for engine in ("x86", "fbgemm"))


class Int8Linear(nn.Module):
    """y = x Wᵀ + b with W held as int8 rows and their scales (see the module docstring); inference only."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self._packed = None  # fbgemm's prepacked weight, built on first use (and after a state-dict load)

    @classmethod
    def from_float(cls, linear: nn.Linear) -> "Int8Linear":
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None)
        layer.weight_int8, layer.weight_scale = quantize_rows(linear.weight)
        if linear.bias is not None:
            layer.bias = linear.bias.detach().float().clone()
        return layer

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_scale[:, None] * self.weight_int8.float()

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._packed = None
        super()._load_from_state_dict(*args, **kwargs)

    def _pack(self):
        with warnings.catch_warnings():  # quantized tensors are the fbgemm kernel's input format
            warnings.simplefilter("ignore", UserWarning)
            zero = torch.zeros(self.out_features, dtype=torch.long)
            q = torch._make_per_channel_quantized_tensor(self.weight_int8, self.weight_scale.double(), zero, 0)
            return torch.ops.quantized.linear_prepack(q, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None:
            self._packed = self._pack()
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, self.in_features).float().contiguous(), self._packed)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-row scales"


def quantize_linears(model: nn.Module, include_head: bool = True, from_weights: bool = True) -> nn.Module:
    """Replace every nn.Linear in `model` by an Int8Linear, in place. `from_weights`: quantize the current
    weights (False: an empty int8 shell whose weights a state dict will fill). A tied LM head gets its own int8
    copy; the token embedding it was tied to stays float (a lookup reads one row, not the matrix)."""
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and (include_head or full != "lm_head"):
                int8 = (Int8Linear.from_float(child) if from_weights
                        else Int8Linear(child.in_features, child.out_features, child.bias is not None))
                setattr(module, child_name, int8)
    return model

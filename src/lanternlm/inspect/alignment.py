"""The alignment of a translation: cross-attention weights drawn as a heat-map, source tokens across, target
tokens down. Cell (t, s) is how much the decoder, writing target token t, attended to source token s (each
row sums to 1). Averaged over every layer and head, or one layer's heads, or one head.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LanternError
from ..io import atomic_path


def check_heads(layers: int, heads: int, layer: int | None, head: int | None) -> None:
    """A one-line error unless `layer` (of `layers`) and `head` (of `heads`, within a layer) exist."""
    if head is not None and layer is None:
        raise LanternError("--head needs --layer (heads are numbered within a layer)")
    if layer is not None and not 0 <= layer < layers:
        raise LanternError(f"--layer must be in 0..{layers - 1}, got {layer}")
    if head is not None and not 0 <= head < heads:
        raise LanternError(f"--head must be in 0..{heads - 1}, got {head}")


def select_heads(weights: torch.Tensor, layer: int | None = None, head: int | None = None) -> tuple[torch.Tensor, str]:
    """weights (layers, heads, T, S) -> ((T, S) map, what it shows): the mean over every layer and head, over
    one layer's heads, or one head (layer and head count from 0; head needs a layer)."""
    layers, heads = weights.shape[:2]
    check_heads(layers, heads, layer, head)
    if layer is None:
        return weights.mean(dim=(0, 1)), f"mean of {layers} layers x {heads} heads"
    if head is None:
        return weights[layer].mean(dim=0), f"layer {layer}, mean of {heads} heads"
    return weights[layer, head], f"layer {layer}, head {head}"


def plot_alignment(weights: torch.Tensor, source_tokens: list[str], target_tokens: list[str], out: str | Path,
                   title: str = "") -> None:
    """Draw a (T, S) alignment as a heat-map labelled with the tokens; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * cols + 2.5), max(3.0, 0.45 * rows + 1.8)))
    image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), [repr(t)[1:-1] for t in source_tokens], rotation=60, ha="right")
    ax.set_yticks(range(rows), [repr(t)[1:-1] for t in target_tokens])
    ax.set_xlabel("source token (encoder)")
    ax.set_ylabel("target token written (decoder)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cross-attention weight")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)

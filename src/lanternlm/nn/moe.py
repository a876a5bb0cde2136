"""Mixture of experts (MoE) feed-forward: many feed-forward "experts", each token uses only k of them.

Router: p = softmax(x W_r) over E experts; the token goes to the k experts with the largest p, and the output
is Σ_{e in top-k} w_e · FFN_e(x) with w = the top-k probabilities renormalised to sum to 1 (Mixtral). The
parameter count grows with E, the compute per token only with k.

Load balancing (Switch Transformer, eq. 4-6; Mixtral): left alone the router collapses onto a few experts.
The auxiliary loss
    L_aux = E · Σ_e f_e · P_e,   f_e = (tokens routed to e) / N,   P_e = mean over tokens of p_e
is smallest when both are uniform (then L_aux = k); it is added to the training loss with a small weight
(`moe_aux_loss_coef`). f has no gradient; P carries it to the router.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .feedforward import FeedForward
from .functional import softmax
from .linear import Linear


@dataclass
class Routing:
    """What the router decided for N tokens."""

    probs: torch.Tensor  # (N, E) router softmax, fp32
    experts: torch.Tensor  # (N, k) chosen expert indices, most probable first
    weights: torch.Tensor  # (N, k) mixing weights, renormalised over the chosen experts

    @property
    def tokens_per_expert(self) -> torch.Tensor:
        """f_e: fraction of the N tokens sent to expert e (sums to k over e)."""
        counts = F.one_hot(self.experts, self.probs.size(-1)).sum(dim=(0, 1))
        return counts.float() / self.probs.size(0)

    @property
    def aux_loss(self) -> torch.Tensor:
        """L_aux = E · Σ_e f_e · P_e."""
        return self.probs.size(-1) * (self.tokens_per_expert * self.probs.mean(dim=0)).sum()

    @property
    def expert_load(self) -> torch.Tensor:
        """Share of all routing assignments each expert received (sums to 1; uniform = 1/E)."""
        return self.tokens_per_expert / self.experts.size(-1)


class MoEFeedForward(nn.Module):
    """Router (a bias-free Linear d -> E) plus E independent `FeedForward` experts; returns (output, routing)."""

    def __init__(self, n_embd: int, d_ff: int, n_expert: int, top_k: int, activation: str = "swiglu",
                 bias: bool = False, dropout: float = 0.0, hidden_dropout: float = 0.0) -> None:
        super().__init__()
        self.top_k = top_k
        self.router = Linear(n_embd, n_expert, bias=False)
        self.experts = nn.ModuleList(
            FeedForward(n_embd=n_embd, d_ff=d_ff, activation=activation, bias=bias, dropout=dropout,
                        hidden_dropout=hidden_dropout)
            for _ in range(n_expert))

    def route(self, x: torch.Tensor) -> Routing:
        """x: (N, d) -> the top-k experts of each token and their mixing weights."""
        probs = softmax(self.router(x))
        top_p, experts = probs.topk(self.top_k, dim=-1)
        return Routing(probs, experts, top_p / top_p.sum(dim=-1, keepdim=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Routing]:
        flat = x.reshape(-1, x.size(-1))
        routing = self.route(flat)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(routing.experts == e)  # the tokens that chose expert e, and in which slot
            if token.numel():
                weight = routing.weights[token, slot, None].to(flat.dtype)
                out.index_add_(0, token, weight * expert(flat[token]))
        return out.view_as(x), routing

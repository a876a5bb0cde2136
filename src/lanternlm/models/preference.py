"""Direct preference optimization (DPO): learning from "this answer is better than that one" without RL.

RLHF fits a reward model to human preferences, then maximises that reward with a KL penalty that keeps the
policy π near a reference π_ref (the SFT model). The optimum of that objective has the closed form
π(y|x) ∝ π_ref(y|x)·exp(r(x, y)/β), so the reward is r = β·log(π/π_ref) up to a constant, and the
Bradley–Terry likelihood of a preference y_w ≻ y_l becomes a loss on π alone (Rafailov et al. 2023):

    L = −log σ(β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])

log π(y) is the sum of the response tokens' log-probabilities (the prompt is given, not scored). The
reference is the base with the LoRA adapter switched off (`active_adapters()` with no names), so it costs a
forward pass and no second copy of the weights; at the start B = 0 makes π = π_ref exactly, every margin 0
and the loss log 2. Reported: the implicit rewards' margin and the share of pairs where it is positive
(preference accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..nn.lora import active_adapters
from .adapted import AdaptedLM
from .base import IGNORE_INDEX, LanguageModel


def sequence_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B,): Σ_t log p(targets[t]) over the positions whose target is not IGNORE_INDEX."""
    scored = targets != IGNORE_INDEX
    picked = logits.float().log_softmax(-1).gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, per-pair reward margins) from sequence log-probabilities (B,) of each side under π and π_ref."""
    margins = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return -F.logsigmoid(margins).mean(), margins


@dataclass
class PreferenceOutput:
    loss: torch.Tensor
    margins: torch.Tensor  # (B,) β-scaled implicit reward of chosen minus rejected
    policy_chosen: torch.Tensor  # (B,) log π(y_w), log π(y_l)
    policy_rejected: torch.Tensor


class PreferenceLM(AdaptedLM):
    """A LoRA-adapted language model that is also its own reference: called with preference pairs it returns
    the DPO loss; called like any language model (generation, serving) it is the adapted policy."""

    def __init__(self, base: LanguageModel, lora: tuple[str, ...], beta: float) -> None:
        super().__init__(base, None, lora)
        self.beta = beta

    def forward(self, idx: torch.Tensor | None = None, targets: torch.Tensor | None = None, *args,
                chosen: torch.Tensor | None = None, chosen_targets: torch.Tensor | None = None,
                rejected: torch.Tensor | None = None, rejected_targets: torch.Tensor | None = None, **kwargs):
        if chosen is None:
            return super().forward(idx, targets, *args, **kwargs)
        # one batch of both sides: chosen rows, then rejected rows, padded to one length
        length = max(chosen.size(1), rejected.size(1))
        ids = torch.cat([F.pad(chosen, (0, length - chosen.size(1))), F.pad(rejected, (0, length - rejected.size(1)))])
        targets = torch.cat([F.pad(chosen_targets, (0, length - chosen.size(1)), value=IGNORE_INDEX),
                             F.pad(rejected_targets, (0, length - rejected.size(1)), value=IGNORE_INDEX)])
        policy = sequence_logprobs(super().forward(ids).logits, targets)
        with torch.no_grad(), active_adapters():  # the reference: the same base, adapter off
            reference = sequence_logprobs(self.base(ids).logits, targets)
        n = chosen.size(0)
        loss, margins = dpo_loss(policy[:n], policy[n:], reference[:n], reference[n:], self.beta)
        return PreferenceOutput(loss, margins.detach(), policy[:n].detach(), policy[n:].detach())

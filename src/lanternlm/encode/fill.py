"""Fill in the blanks: what a masked-language model predicts at each [MASK] of a text.

The text becomes `[CLS] text [SEP]`, with the written "[MASK]" read as the mask token. One forward pass gives
at every [MASK] position p = softmax(logits) over the vocabulary, computed from the whole text on both sides.
Several masks are predicted at once and independently: each sees the others as [MASK], as in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import LanternError
from .encoder import TextEncoder


@dataclass
class MaskPrediction:
    position: int  # index in the model input ([CLS] is 0)
    candidates: list[tuple[str, int, float]]  # (token text, id, probability), the most likely first


def mask_text(encoder: TextEncoder) -> str:
    mask_id = getattr(encoder.tokenizer, "mask_id", None)
    if mask_id is None:
        raise LanternError("this tokenizer has no [MASK] token")
    return encoder.tokenizer.token_text(mask_id)


@torch.no_grad()
def fill_masks(encoder: TextEncoder, text: str, top: int = 5) -> tuple[list[MaskPrediction], str]:
    """(the `top` candidates at each [MASK], the text with every [MASK] replaced by its most likely token)."""
    if top < 1:
        raise LanternError(f"--top must be at least 1, got {top}")
    mask = mask_text(encoder)
    if mask not in text:
        raise LanternError(f"the text has no {mask} to fill in, e.g. \"The cat sat on the {mask}.\"")
    if encoder.model.config.mlm_head is False:
        raise LanternError("this model has no masked-LM head (imported without one, as sentence-embedding models "
                           "are), so it cannot fill in masks")
    tok, model = encoder.tokenizer, encoder.model
    ids = tok.encode_for_model(text, allowed_special={mask})[0]
    if len(ids) > model.config.block_size:
        raise LanternError(f"the text is {len(ids)} tokens with [CLS] and [SEP]; the model reads at most "
                           f"{model.config.block_size}")
    logits = model(torch.tensor([ids], device=model.device)).logits[0].float().cpu()
    predictions, filled = [], list(ids)
    for position in [i for i, token_id in enumerate(ids) if token_id == tok.mask_id]:
        probs, best = torch.softmax(logits[position], -1).topk(min(top, logits.size(-1)))
        predictions.append(MaskPrediction(position, [(tok.token_text(i), i, p)
                                                     for i, p in zip(best.tolist(), probs.tolist())]))
        filled[position] = best[0].item()
    return predictions, tok.decode(filled[1:-1])

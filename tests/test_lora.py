"""LoRA, soft prompts and the views that share one base: exactness against the base, merge == unmerged,
gradients only where they belong and as many as the formula says, adapters on and off per call."""

from __future__ import annotations

import pytest
import torch

from conftest import perturbed_model
from lanternlm.config import ModelConfig
from lanternlm.errors import LanternError
from lanternlm.models import build_model
from lanternlm.models.adapted import AdaptedLM, Classifier, SoftPrompt, pool_last, weights_fingerprint
from lanternlm.models.lora import (adapter_names, attach_lora, detach_lora, lora_layers, lora_parameter_count,
                                   merge_lora, plain_linears, unmerge_lora)
from lanternlm.nn.lora import active_adapters, adapters_by_row

pytestmark = pytest.mark.usefixtures("one_thread")


def gqa_model(**options):
    """A GPT with 4 query heads and 2 key/value heads, so the q and v slices of c_attn differ in size."""
    return perturbed_model(50, 16, n_kv_head=2, **options)


def bert_model():
    torch.manual_seed(1)
    config = ModelConfig(family="bert", vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32,
                         type_vocab_size=2, norm_placement="post")
    return build_model(config).eval()


def randomise_adapters(model, name="a"):
    """B = 0 hides every bug; give the factors real values."""
    with torch.no_grad():
        for layer in lora_layers(model):
            for update in layer.adapters[name].parts.values() if name in layer.adapters else ():
                update.B.normal_(0, 0.3)


IDS = torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make", [gqa_model, bert_model])
def test_zero_B_gives_the_base_outputs_exactly(make):
    model = make()
    before = model(IDS).logits if model.can_generate else model.hidden_states(IDS)
    attach_lora(model, "a", rank=4, alpha=8, targets=["all"])
    with active_adapters("a"):
        after = model(IDS).logits if model.can_generate else model.hidden_states(IDS)
    assert torch.equal(before, after)


def test_merged_equals_unmerged_and_unmerge_restores_the_base():
    model = gqa_model()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    plain = model(IDS).logits
    attach_lora(model, "a", rank=4, alpha=8, targets=["q", "v", "o", "ff_in", "ff_out"])
    randomise_adapters(model)
    with active_adapters("a"):
        unmerged = model(IDS).logits
        merge_lora(model, "a")
        merged = model(IDS).logits
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(merged, plain, atol=1e-3)  # the adapter does change the outputs
    unmerge_lora(model, "a")
    for key, value in base.items():
        torch.testing.assert_close(model.state_dict()[key], value, atol=1e-6, rtol=0)


def test_only_adapter_and_head_get_gradients_and_their_count_is_the_formula():
    model = gqa_model()
    c = model.config
    model.requires_grad_(False)
    added = attach_lora(model, "a", rank=3, alpha=6, targets=["q", "v", "ff_out"])
    d, q_rows, v_rows = c.n_embd, c.n_head * c.head_dim, c.kv_heads * c.head_dim
    per_layer = 3 * (d + q_rows) + 3 * (d + v_rows) + 3 * (c.ff_dim + d)  # r·(d_in + d_out) per target
    assert added == c.n_layer * per_layer == lora_parameter_count(model, 3, ["q", "v", "ff_out"])
    classifier = Classifier(model, n_labels=3, lora=("a",))
    randomise_adapters(model)
    out = classifier(IDS, labels=torch.tensor([0, 1, 2]))
    out.loss.backward()
    with_grad = {n for n, p in classifier.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {n for n, p in classifier.named_parameters() if p.requires_grad}
    assert with_grad == trainable
    assert all(".adapters.a." in n or n.startswith("head.") for n in trainable)
    assert sum(p.numel() for n, p in classifier.named_parameters() if p.requires_grad) == added + 3 * d + 3


def test_adapters_act_only_when_active_and_each_view_sees_its_own():
    model = gqa_model()
    plain = model(IDS).logits
    attach_lora(model, "a", rank=2, alpha=4, targets=["q", "v"])
    attach_lora(model, "b", rank=2, alpha=4, targets=["o"])
    randomise_adapters(model, "a")
    randomise_adapters(model, "b")
    assert adapter_names(model) == ["a", "b"]
    view_a, view_b = AdaptedLM(model, lora=("a",)), AdaptedLM(model, lora=("b",))
    out_a, out_b = view_a(IDS).logits, view_b(IDS).logits
    assert torch.equal(model(IDS).logits, plain)  # disabled: the base, bit for bit
    assert not torch.allclose(out_a, plain) and not torch.allclose(out_a, out_b)
    with active_adapters("a", "b"):  # both at once: their updates add up
        both = model(IDS).logits
    assert not torch.allclose(both, out_a) and not torch.allclose(both, out_b)
    detach_lora(model, "b")
    assert torch.equal(view_a(IDS).logits, out_a) and adapter_names(model) == ["a"]



def test_per_row_adapters_give_each_row_what_its_adapters_give_it_alone():
    """A batch mixing the base's rows with adapter a's, b's and both: each row equals the row run alone with
    its own adapters (and a batch of one adapter's rows equals the view on the whole batch)."""
    model = gqa_model()
    attach_lora(model, "a", rank=2, alpha=4, targets=["q", "v", "ff_in"])
    attach_lora(model, "b", rank=3, alpha=4, targets=["o", "ff_out"])
    randomise_adapters(model, "a")
    randomise_adapters(model, "b")
    rows = [("a",), (), ("b",), ("a", "b")]
    ids = torch.randint(0, 50, (len(rows), 10), generator=torch.Generator().manual_seed(5))
    with torch.no_grad(), adapters_by_row(rows):
        mixed = model(ids).logits
        with active_adapters("b"):  # a view called inside takes its own adapters, on every row
            inner = model(ids).logits
    for row, names in enumerate(rows):
        with torch.no_grad(), active_adapters(*names):
            torch.testing.assert_close(mixed[row], model(ids[row:row + 1]).logits[0], rtol=0, atol=1e-5)
    with torch.no_grad(), active_adapters("b"):
        torch.testing.assert_close(inner, model(ids).logits, rtol=0, atol=0)
        with adapters_by_row([("b",)] * len(rows)):
            torch.testing.assert_close(model(ids).logits, inner, rtol=0, atol=1e-5)
    assert len({tuple(mixed[row, -1, :5].tolist()) for row in range(len(rows))}) == len(rows)  # all differ
    with torch.no_grad():
        lora_layers(model)[0].adapters["a"].parts["q"].B.add_(0.5)  # a factor changes: nothing stale is reused
        with adapters_by_row(rows):
            changed = model(ids).logits
        with active_adapters("a"):
            torch.testing.assert_close(changed[0], model(ids[:1]).logits[0], rtol=0, atol=1e-5)
    assert not torch.allclose(changed[0], mixed[0]) and torch.equal(changed[1], mixed[1])
    factors = [t for layer in lora_layers(model) if "b" in layer.adapters
               for part in layer.adapters["b"].parts.values() for t in (part.A, part.B)]
    optimizer = torch.optim.AdamW(factors, lr=0.1, fused=True)  # writes without bumping the version counters
    model.train()
    with active_adapters("b"):
        model(ids).logits.square().mean().backward()
    optimizer.step()
    model.eval()
    with torch.no_grad(), adapters_by_row(rows):
        trained = model(ids).logits
    with torch.no_grad(), active_adapters("b"):
        torch.testing.assert_close(trained[2], model(ids[2:3]).logits[0], rtol=0, atol=1e-5)
    assert not torch.allclose(trained[2], changed[2])
    with pytest.raises(RuntimeError, match="rows first"), adapters_by_row(rows[:2]):
        model(ids)  # a batch that is not the one the rows describe is refused, not silently misapplied

def test_attaching_twice_and_a_bad_rank_are_errors():
    model = gqa_model()
    attach_lora(model, "a", rank=2, alpha=4)
    with pytest.raises(LanternError, match="already carries"):
        attach_lora(model, "a", rank=2, alpha=4)
    with pytest.raises(LanternError, match="rank must be positive"):
        attach_lora(model, "c", rank=0, alpha=4)
    with pytest.raises(LanternError, match="unknown LoRA target"):
        attach_lora(model, "d", rank=2, alpha=4, targets=["query"])


def test_plain_linears_leave_the_base_family_state_dict():
    model = gqa_model()
    keys = set(model.state_dict())
    attach_lora(model, "a", rank=2, alpha=4, targets=["all"])
    randomise_adapters(model)
    with active_adapters("a"):
        adapted = model(IDS).logits
    merge_lora(model, "a")
    plain_linears(model)
    assert set(model.state_dict()) == keys
    torch.testing.assert_close(model(IDS).logits, adapted, atol=1e-5, rtol=1e-5)


def test_fingerprint_ignores_adapters_and_sees_any_weight_change():
    model = gqa_model()
    first = weights_fingerprint(model)
    attach_lora(model, "a", rank=2, alpha=4)
    assert weights_fingerprint(model) == first
    with torch.no_grad():
        model.blocks[1].mlp.c_fc.weight[0, 0] += 1e-3
    assert weights_fingerprint(model) != first


def test_soft_prompt_shifts_positions_and_generation_through_the_cache_matches_the_full_pass():
    model = gqa_model()
    prompt = SoftPrompt(3, model.config.n_embd, torch.randn(3, model.config.n_embd))
    view = AdaptedLM(model, prompt=prompt)
    assert view.config.block_size == model.config.block_size - 3
    full = view(IDS).logits  # (B, T, V): the prompt's positions predict nothing
    assert full.shape == (3, 10, 50)
    manual = model(IDS, prefix=prompt.embeddings[None]).logits
    assert torch.equal(full, manual)
    cache = view.new_cache(3)
    first = view(IDS[:, :6], kv_cache=cache, start_pos=0).logits
    rest = [view(IDS[:, t:t + 1], kv_cache=cache, start_pos=t).logits for t in range(6, 10)]
    torch.testing.assert_close(torch.cat([first] + rest, dim=1), full, atol=1e-5, rtol=1e-5)


def test_prefix_is_read_by_every_token_and_padding_changes_nothing():
    bert = bert_model()
    prefix = torch.randn(1, 2, 32)
    ids = IDS[:2, :6].clone()
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    padded = bert.hidden_states(ids, mask, prefix)
    alone = bert.hidden_states(ids[1:, :4], None, prefix)
    torch.testing.assert_close(padded[1, :4], alone[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(bert.hidden_states(ids, mask), padded)


def test_decoder_pools_the_last_real_token():
    model = gqa_model()
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert torch.equal(pool_last(hidden, mask), torch.stack([hidden[0, 3], hidden[1, 1]]))
    classifier = Classifier(model, 2).eval()
    padded = torch.cat([IDS[:1, :7], torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 7 + [0] * 3])
    torch.testing.assert_close(classifier(padded, mask).logits, classifier(IDS[:1, :7]).logits, atol=1e-5, rtol=0)

"""The encoder family (BERT): bidirectional attention, the padding mask, token + position + segment embeddings,
the masked-LM loss on target positions only, pooling; each checked against a hand computation."""

import pytest
import torch
import torch.nn.functional as F

from lanternlm.config import ModelConfig, RunConfig, apply_overrides
from lanternlm.errors import LanternError
from lanternlm.models import BERT, IGNORE_INDEX, build_model
from lanternlm.models.encoder import pool
from lanternlm.runs import load_weights, save_weights

pytestmark = pytest.mark.usefixtures("one_thread")

V = 50


def bert(**options) -> BERT:
    """A 2-layer, 32-wide post-norm BERT in eval mode, weights moved far from init so every part matters."""
    torch.manual_seed(0)
    config = ModelConfig(**{"family": "bert", "vocab_size": V, "block_size": 24, "n_layer": 2, "n_head": 4,
                            "n_embd": 32, "norm_placement": "post", "type_vocab_size": 2, "norm_eps": 1e-12,
                            **options})
    config.validate()
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model


def padded_batch():
    """Three sequences of lengths 11, 7 and 3, right-padded to 11 (pad id 0)."""
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, V, (3, 11), generator=g)
    types = torch.randint(0, 2, (3, 11), generator=g)
    mask = torch.ones(3, 11, dtype=torch.long)
    for row, length in ((1, 7), (2, 3)):
        mask[row, length:] = 0
        ids[row, length:] = 0
        types[row, length:] = 0
    return ids, mask, types


def test_attention_is_bidirectional():
    model = bert()
    ids = torch.randint(1, V, (1, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[0, 9] = (ids[0, 9] + 1) % V
    a, b = model.hidden_states(ids), model.hidden_states(changed)
    assert (a[:, :9] - b[:, :9]).abs().max() > 1e-3  # earlier positions see the later token (GPT's do not)
    maps = model.attention_maps(ids)
    assert len(maps) == 2 and maps[0].shape == (1, 4, 12, 12)
    assert torch.all(maps[0] > 0)  # no causal triangle: every query spreads over every key


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rope", "none"])
@pytest.mark.parametrize("placement", ["post", "pre"])
def test_padded_batch_equals_each_sequence_alone(position, placement):
    model = bert(position=position, norm_placement=placement)
    ids, mask, types = padded_batch()
    batch = model.hidden_states(ids, mask, token_type_ids=types)
    for row in range(3):
        n = int(mask[row].sum())
        alone = model.hidden_states(ids[row:row + 1, :n], token_type_ids=types[row:row + 1, :n])
        torch.testing.assert_close(batch[row:row + 1, :n], alone, atol=1e-5, rtol=0)


def test_padding_tokens_change_no_real_output():
    model = bert()
    ids, mask, types = padded_batch()
    other = ids.clone()
    other[1, 7:] = torch.arange(7, 11) * 3 % V  # different padding ids (and so different padded keys and values)
    other[2, 3:] = 17
    a = model(ids, attention_mask=mask, token_type_ids=types)
    b = model(other, attention_mask=mask, token_type_ids=types)
    real = mask.bool()
    torch.testing.assert_close(a.hidden[real], b.hidden[real], atol=1e-6, rtol=0)
    torch.testing.assert_close(a.logits[real], b.logits[real], atol=1e-5, rtol=0)
    maps = model.attention_maps(ids, mask)
    assert torch.all(maps[1][2, :, :, 3:] == 0)  # a padded key gets no weight from any query


def test_reference_and_fused_paths_agree_with_padding():
    model = bert()
    ids, mask, types = padded_batch()
    fused = model(ids, attention_mask=mask, token_type_ids=types)
    ref = model(ids, attention_mask=mask, token_type_ids=types, return_attention=True)
    assert fused.attentions is None and len(ref.attentions) == 2
    torch.testing.assert_close(fused.hidden, ref.hidden, atol=1e-5, rtol=0)


def test_input_embedding_is_layernorm_of_token_position_segment():
    model = bert(dropout=0.1)  # eval mode: dropout is off
    ids, _, types = padded_batch()
    summed = model.wte(ids) + model.wpe.weight[:11] + model.wtt(types)
    torch.testing.assert_close(model.embed(ids, types), F.layer_norm(summed, (32,), model.ln_emb.weight,
                                                                      model.ln_emb.bias, 1e-12))
    assert not torch.allclose(model.embed(ids, types), model.embed(ids))  # segments matter (omitted: all 0)
    no_segments = bert(type_vocab_size=0)
    assert no_segments.wtt is None
    with pytest.raises(ValueError, match="no segment embeddings"):
        no_segments.embed(ids, types)


def test_mlm_loss_counts_only_target_positions():
    model = bert()
    ids, mask, types = padded_batch()
    targets = torch.full_like(ids, IGNORE_INDEX)
    picked = [(0, 2), (0, 9), (1, 4), (2, 0)]
    for row, col in picked:
        targets[row, col] = (ids[row, col] * 7) % V
    out = model(ids, targets, attention_mask=mask, token_type_ids=types)
    full = model(ids, attention_mask=mask, token_type_ids=types).logits  # the head at every position
    torch.testing.assert_close(out.logits, full[targets != IGNORE_INDEX])  # with targets: only theirs, in order
    log_probs = full.log_softmax(-1)
    by_hand = -torch.stack([log_probs[r, c, targets[r, c]] for r, c in picked]).mean()
    torch.testing.assert_close(out.loss, by_hand)
    hits = torch.stack([full[r, c].argmax() == targets[r, c] for r, c in picked])
    torch.testing.assert_close(out.metrics["accuracy"], hits.float().mean())

    model.train()  # gradients reach the logits of target positions only
    logits = model(ids, attention_mask=mask, token_type_ids=types).logits
    logits.retain_grad()
    F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=IGNORE_INDEX).backward()
    touched = logits.grad.abs().sum(-1) > 0
    assert touched.sum() == len(picked) and all(touched[r, c] for r, c in picked)


def test_mlm_head_is_tied_to_the_token_embedding():
    model = bert()
    assert model.mlm_head.decoder.weight is model.wte.weight
    assert model.mlm_head.decoder.bias.shape == (V,)
    expected = sum(p.numel() for p in model.parameters())  # parameters() yields a tied matrix once
    assert model.num_parameters() == expected
    assert expected < sum(t.numel() for t in model.state_dict().values())  # the state dict names it twice
    untied = bert(tie_embeddings=False)
    assert untied.mlm_head.decoder.weight is not untied.wte.weight
    headless = bert(mlm_head=False)
    assert headless.mlm_head is None and headless(torch.ones(1, 3, dtype=torch.long)).logits is None
    with pytest.raises(ValueError, match="no masked-LM head"):
        headless(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))


def test_pooling_mean_cls_and_normalisation():
    hidden = torch.randn(3, 11, 32)
    _, mask, _ = padded_batch()
    mean = pool(hidden, mask, "mean")
    for row in range(3):
        n = int(mask[row].sum())
        torch.testing.assert_close(mean[row], hidden[row, :n].sum(0) / n)
    torch.testing.assert_close(pool(hidden, None, "mean"), hidden.mean(1))
    torch.testing.assert_close(pool(hidden, mask, "cls"), hidden[:, 0])
    unit = pool(hidden, mask, "mean", normalize=True)
    torch.testing.assert_close(unit.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(unit, mean / mean.norm(dim=-1, keepdim=True))


def test_sentence_embeddings_follow_the_config():
    ids, mask, types = padded_batch()
    for pooling, normalize in (("mean", True), ("cls", False)):
        model = bert(pooling=pooling, normalize_embeddings=normalize)
        vectors = model.sentence_embeddings(ids, mask, types)
        torch.testing.assert_close(vectors, pool(model.hidden_states(ids, mask, token_type_ids=types), mask, pooling, normalize))
        assert vectors.shape == (3, 32)
    # a padded sentence's vector equals the vector of that sentence alone
    model = bert(normalize_embeddings=True)
    alone = model.sentence_embeddings(ids[2:, :3], token_type_ids=types[2:, :3])
    torch.testing.assert_close(model.sentence_embeddings(ids, mask, types)[2:], alone, atol=1e-6, rtol=0)


def test_pooler_is_tanh_of_a_linear_map_of_cls():
    model = bert(pooler=True)
    ids, mask, types = padded_batch()
    out = model(ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(out.pooled, torch.tanh(model.pooler(out.hidden[:, 0])))


def test_language_model_surface():
    model = bert()
    assert model.can_generate is False and model.new_cache(2) is None
    assert model.token_embeddings().shape == (V, 32)
    assert model.device.type == "cpu" and model.dtype == torch.float32


def test_weights_round_trip_through_safetensors(tmp_path):
    model = bert(pooler=True)
    save_weights(model, tmp_path / "model.safetensors")
    torch.manual_seed(5)
    again = build_model(model.config)
    load_weights(again, tmp_path / "model.safetensors")
    again.eval()
    ids, mask, types = padded_batch()
    torch.testing.assert_close(again(ids, attention_mask=mask, token_type_ids=types).logits,
                               model(ids, attention_mask=mask, token_type_ids=types).logits, atol=0, rtol=0)
    assert again.mlm_head.decoder.weight is again.wte.weight  # still tied after loading


def test_training_step_lowers_the_masked_loss():
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="bert", vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16,
                                    norm_placement="post", dropout=0.1, attn_dropout=0.1)).train()
    ids = torch.randint(1, V, (4, 16))
    targets = torch.where(torch.rand(4, 16) < 0.3, ids, IGNORE_INDEX)
    inputs = torch.where(targets != IGNORE_INDEX, 3, ids)  # 3 plays [MASK]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(inputs, targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_config_validation():
    def check(*overrides):
        apply_overrides(RunConfig(), ["family=bert", "vocab_size=10", *overrides]).validate()

    check("type_vocab_size=2", "pooling=cls", "normalize_embeddings=true", "pooler=true", "mlm_head=false")
    with pytest.raises(LanternError, match="model.pooling must be one of mean, cls; got 'clss'"):
        check("pooling=clss")
    with pytest.raises(LanternError, match="type_vocab_size must be >= 0"):
        check("type_vocab_size=-1")
    for option in ("position=alibi", "sliding_window=4", "n_expert=4"):
        with pytest.raises(LanternError, match="the bert family has no"):
            check(option)
    with pytest.raises(LanternError, match="belong to the bert family"):
        apply_overrides(RunConfig(), ["type_vocab_size=2"]).validate()
    assert ModelConfig().type_vocab_size == 0 and not ModelConfig().pooler  # GPT configs are unaffected


@pytest.mark.parametrize("tie,mlm_head,pooler,bias,type_vocab_size", [
    (True, True, False, True, 2), (False, True, True, True, 0), (True, False, True, False, 2),
    (False, False, False, False, 0), (False, True, False, False, 1)])
def test_sizing_counts_every_part(tie, mlm_head, pooler, bias, type_vocab_size):
    """`lantern inspect params` (sizing from the config alone) agrees with the built model."""
    from lanternlm.inspect.params import count_parameters

    config = ModelConfig(family="bert", vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=16,
                         norm_placement="post", tie_embeddings=tie, mlm_head=mlm_head, pooler=pooler, bias=bias,
                         type_vocab_size=type_vocab_size)
    assert build_model(config).num_parameters() == count_parameters(config).total

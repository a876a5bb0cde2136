"""The encoder–decoder model: cross-attention (reference == fused), its masks, cached == uncached decoding through
the engine's one loop for every architecture option, beam search over a batch of sources, label smoothing."""

from itertools import zip_longest

import pytest
import torch

from conftest import perturbed_model
from lanternlm.config import ModelConfig
from lanternlm.errors import LanternError
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.decoder import Decoder
from lanternlm.models import pad_sequences
from lanternlm.nn import CrossAttention
from lanternlm.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer(list("abcdefghijklmnop "), special_tokens={"<|endoftext|>": 17})
VOCAB = 18
BLOCK = 12
ARCHITECTURES = {
    "learned-mha": {},
    "sinusoidal-post-norm": dict(position="sinusoidal", norm_placement="post"),
    "rope-gqa-rmsnorm-swiglu": dict(position="rope", n_kv_head=2, norm="rmsnorm", activation="swiglu", bias=False),
    "nopos-mqa-qknorm": dict(position="none", n_kv_head=1, qk_norm=True),
    "moe-3-encoder-1-decoder": dict(n_expert=4, n_expert_active=2, n_encoder_layer=3, n_decoder_layer=1),
    "separate-embeddings-untied": dict(share_embeddings=False, source_vocab_size=11, tie_embeddings=False),
}
SOURCES = [[1, 2, 3, 4, 5, 17], [6, 7, 8, 17], [9, 10, 11, 12, 13, 14, 15, 17]]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: a second thread only adds synchronisation


def make_model(seed: int = 0, **options) -> torch.nn.Module:
    """A 2 + 2-layer, 32-dim encoder–decoder with weights moved far from init, so logits are decisive."""
    ModelConfig(family="seq2seq", vocab_size=VOCAB, **options).validate()
    return perturbed_model(VOCAB, BLOCK, seed, family="seq2seq", **options)


def batch(sources=SOURCES):
    return pad_sequences(sources)


def sources_for(model) -> list[list[int]]:
    """SOURCES within the model's source vocabulary (a separate one may be smaller)."""
    return [[min(t, model.config.source_vocab - 1) for t in row] for row in SOURCES]


def test_cross_attention_reference_equals_fused_with_source_padding():
    torch.manual_seed(0)
    x, encoded = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    key_mask = torch.ones(3, 7, dtype=torch.bool)
    key_mask[1, 4:] = False
    key_mask[2, 1:] = False
    for n_kv_head in (4, 2, 1):
        for qk_norm in (False, True):
            attn = CrossAttention(n_embd=16, n_head=4, n_kv_head=n_kv_head, qk_norm=qk_norm).eval()
            memory = attn.memory(encoded)
            for mask in (None, key_mask):
                fused, none = attn(x, memory, mask)
                ref, weights = attn(x, memory, mask, return_attention=True)
                assert none is None and weights.shape == (3, 4, 5, 7)
                torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
                torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 5))
            assert torch.all(weights[1, :, :, 4:] == 0) and torch.all(weights[2, :, :, 1:] == 0)


def test_cross_attention_is_the_formula():
    """softmax((x W_q)(m W_k)ᵀ / √d) (m W_v), then the output projection, written out for one head."""
    torch.manual_seed(0)
    attn = CrossAttention(n_embd=8, n_head=1, bias=False).eval()
    x, m = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    w_k, w_v = attn.kv_proj.weight.split(8)
    q, k, v = x @ attn.q_proj.weight.T, m @ w_k.T, m @ w_v.T
    expected = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, dim=-1) @ v @ attn.c_proj.weight.T
    torch.testing.assert_close(attn(x, attn.memory(m))[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_reference_and_fused_paths_agree_in_the_model(name):
    model = make_model(**ARCHITECTURES[name])
    source, mask = batch(sources_for(model))
    idx = torch.randint(0, VOCAB, (3, 6), generator=torch.Generator().manual_seed(1))
    fused = model(idx, source=source, source_mask=mask).logits
    out = model(idx, source=source, source_mask=mask, return_attention=True)
    torch.testing.assert_close(out.logits, fused, atol=1e-5, rtol=0)
    layers = ARCHITECTURES[name].get("n_decoder_layer", 2)
    assert len(out.cross_attentions) == layers and out.cross_attentions[0].shape == (3, 4, 6, 8)


def test_masks_padding_and_future_target_tokens_change_nothing_they_must_not():
    model = make_model()
    source, mask = batch()
    idx = torch.randint(0, VOCAB, (3, 7), generator=torch.Generator().manual_seed(2))
    reference = model(idx, source=source, source_mask=mask).logits
    padded = source.clone()
    padded[mask == 0] = 9  # any token in a padded source position
    torch.testing.assert_close(model(idx, source=padded, source_mask=mask).logits, reference, atol=0, rtol=0)
    t = 4
    future = idx.clone()
    future[:, t] = (idx[:, t] + 1) % VOCAB  # a later target token is invisible to earlier positions
    changed = model(future, source=source, source_mask=mask).logits
    torch.testing.assert_close(changed[:, :t], reference[:, :t], atol=0, rtol=0)
    assert not torch.allclose(changed[:, t:], reference[:, t:])
    real = source.clone()
    real[0, 0] = 16  # a real source token is seen by every target position
    assert not torch.allclose(model(idx, source=real, source_mask=mask).logits[0], reference[0], atol=1e-4)


def test_a_padded_batch_equals_each_pair_alone():
    model = make_model(position="rope")
    source, mask = batch()
    idx = torch.randint(0, VOCAB, (3, 5), generator=torch.Generator().manual_seed(3))
    together = model(idx, source=source, source_mask=mask).logits
    for i, row in enumerate(SOURCES):
        alone = model(idx[i:i + 1], source=torch.tensor([row])).logits
        torch.testing.assert_close(together[i:i + 1], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_cached_decoding_equals_uncached(name):
    """Same forced target tokens into both decoders: per-step logits within 1e-5 up to the whole window."""
    model = make_model(**ARCHITECTURES[name])
    sources = sources_for(model)
    cached, uncached = Decoder(model, use_cache=True), Decoder(model, use_cache=False)
    a, b = cached.prefill([[17]] * 3, sources), uncached.prefill([[17]] * 3, sources)
    forced = torch.randint(0, VOCAB, (BLOCK - 1, 3), generator=torch.Generator().manual_seed(4))
    for step, ids in enumerate(forced[:-1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=f"{name}: step {step}")
        a, b = cached.step(ids), uncached.step(ids)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def engine(model) -> Engine:
    return Engine(model, TOKENIZER)


def decode(model, config: GenerationConfig, sources=SOURCES) -> list[list[int]]:
    rows = [[] for _ in sources]
    for step in engine(model).steps([[17]] * len(sources), config, sources=sources):
        for row, token in enumerate(step.ids.tolist()):
            if token >= 0:
                rows[row].append(token)
    return rows


def test_engine_decodes_greedy_cached_as_uncached_and_beam_one_is_greedy():
    model = make_model()
    greedy = GenerationConfig(max_new_tokens=10, temperature=0.0)
    out = decode(model, greedy)
    assert out == decode(model, GenerationConfig(max_new_tokens=10, temperature=0.0, use_cache=False))
    assert out == decode(model, GenerationConfig(max_new_tokens=10, num_beams=1, temperature=0.0))
    assert any(len(row) > 2 for row in out)


def test_beam_search_over_a_batch_of_sources_equals_each_alone():
    model = make_model(seed=1)
    config = GenerationConfig(max_new_tokens=10, num_beams=3, length_penalty=1.0)
    together = decode(model, config)
    assert together == [decode(model, config, [row])[0] for row in SOURCES]
    assert together == decode(model, GenerationConfig(max_new_tokens=10, num_beams=3, use_cache=False))


def test_translations_joining_one_session_each_decode_as_alone():
    """Two requests in one decoding session (the server's continuous batching): each keeps its own cache of its
    sources and runs alone, the second joining after the first has made steps; each equals its solo run."""
    model = make_model(seed=3)
    greedy, beams = GenerationConfig(max_new_tokens=10, temperature=0.0), GenerationConfig(max_new_tokens=10,
                                                                                           num_beams=2)
    session = engine(model).session(max_rows=16)
    first = engine(model).steps([[17]] * 2, greedy, sources=SOURCES[:2], session=session)
    second = engine(model).steps([[17]], beams, sources=SOURCES[2:], session=session)
    rows = {"first": [[], []], "second": [[]]}

    def take(name, step):
        for row, token in enumerate(step.ids.tolist()):
            if token >= 0:
                rows[name][row].append(token)

    take("first", next(first))
    take("first", next(first))
    for a, b in zip_longest(first, second):
        for name, step in (("first", a), ("second", b)):
            if step is not None:
                take(name, step)
    assert session.cache is None and not session.requests  # none of them used the shared KV cache
    assert rows["first"] == decode(model, greedy, SOURCES[:2])
    assert rows["second"] == decode(model, beams, SOURCES[2:])


def test_beam_search_scores_at_least_as_well_as_greedy():
    """Beam search keeps the greedy path among its candidates, so its best sequence is never less probable."""
    model = make_model(seed=2)

    @torch.no_grad()
    def logprob(source, target):
        idx = torch.tensor([[17] + target])
        logits = model(idx, source=torch.tensor([source])).logits[0].log_softmax(-1)
        return float(logits[torch.arange(len(target) + 1), torch.tensor(target + [17])].sum())

    greedy = decode(model, GenerationConfig(max_new_tokens=BLOCK - 1, temperature=0.0))
    beams = decode(model, GenerationConfig(max_new_tokens=BLOCK - 1, num_beams=4, length_penalty=0.0))
    finished = [len(row) < BLOCK - 1 for row in greedy]
    assert any(finished)
    for source, g, b, done in zip(SOURCES, greedy, beams, finished):
        if done:
            assert logprob(source, b) >= logprob(source, g) - 1e-5


def test_sampling_is_seeded():
    model = make_model()
    config = GenerationConfig(max_new_tokens=8, temperature=1.0, seed=5)
    assert decode(model, config) == decode(model, config)


def test_the_engine_asks_an_encoder_decoder_for_its_source():
    model = make_model()
    with pytest.raises(LanternError, match="encoder–decoder"):
        engine(model).steps([[17]], GenerationConfig())
    with pytest.raises(LanternError, match="encoder–decoder"):
        engine(model).next_token_probs([1, 2], 1.0)


def test_label_smoothing_in_training_plain_cross_entropy_in_evaluation():
    model = make_model(label_smoothing=0.1)
    source, mask = batch()
    idx = torch.randint(0, VOCAB, (3, 5), generator=torch.Generator().manual_seed(5))
    targets = torch.randint(0, VOCAB, (3, 5), generator=torch.Generator().manual_seed(6))
    targets[1, 3:] = -1  # padding: no loss
    logits = model(idx, source=source, source_mask=mask).logits
    logp = logits.log_softmax(-1)[targets >= 0]
    real = targets[targets >= 0]
    nll = -logp.gather(1, real[:, None]).mean()
    smoothed = 0.9 * nll + 0.1 * -logp.mean()  # (1 - ε)·NLL + ε·(mean over the vocabulary of -log p)
    torch.testing.assert_close(model(idx, targets, source=source, source_mask=mask).loss, nll)
    model.train()
    torch.testing.assert_close(model(idx, targets, source=source, source_mask=mask).loss, smoothed)


def test_shared_embeddings_and_tied_output_projection():
    shared = make_model()
    assert shared.source_wte is None and shared.lm_head.weight is shared.wte.weight
    assert shared.token_embeddings() is shared.wte.weight
    separate = make_model(**ARCHITECTURES["separate-embeddings-untied"])
    assert separate.source_wte.weight.shape == (11, 32) and separate.lm_head.weight is not separate.wte.weight
    assert separate.attention_maps(torch.tensor([[1, 2, 3]]))[0].shape == (1, 4, 3, 3)  # the encoder's, bidirectional


@pytest.mark.parametrize("options, message", [
    (dict(position="alibi"), "alibi"),
    (dict(sliding_window=4), "sliding_window"),
    (dict(share_embeddings=True, source_vocab_size=7), "share_embeddings"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(n_encoder_layer=-1), "n_encoder_layer"),
])
def test_config_validation(options, message):
    with pytest.raises(LanternError, match=message):
        ModelConfig(family="seq2seq", vocab_size=VOCAB, **options).validate()
    with pytest.raises(LanternError, match="seq2seq"):
        ModelConfig(n_decoder_layer=2).validate()

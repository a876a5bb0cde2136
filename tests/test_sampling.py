"""Samplers: equal to Hugging Face's logits processors on the same logits, and drawing the right frequencies."""

import pytest
import torch
from scipy.stats import chisquare

from lanternlm.errors import LanternError
from lanternlm.generate import (GenerationConfig, apply_temperature, min_p_filter, presence_frequency_penalty,
                                process_logits, repetition_penalty, sample_next, top_k_filter, top_p_filter)

transformers = pytest.importorskip("transformers")


@pytest.fixture
def logits():
    return torch.randn(8, 500, generator=torch.Generator().manual_seed(0)) * 3


@pytest.fixture
def history():
    return torch.randint(0, 500, (8, 30), generator=torch.Generator().manual_seed(1))


def seen_mask(history, vocab):
    return torch.zeros(history.size(0), vocab, dtype=torch.bool).scatter_(1, history, True)


@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.0, 1.8])
def test_temperature_matches_hf(logits, history, temperature):
    hf = transformers.TemperatureLogitsWarper(temperature)(history, logits.clone())
    torch.testing.assert_close(apply_temperature(logits, temperature), hf, rtol=0, atol=0)


@pytest.mark.parametrize("k", [1, 5, 50, 499])
def test_top_k_matches_hf(logits, history, k):
    hf = transformers.TopKLogitsWarper(k)(history, logits.clone())
    assert torch.equal(top_k_filter(logits, k), hf)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9, 0.999, 1.0])
def test_top_p_matches_hf(logits, history, p):
    hf = transformers.TopPLogitsWarper(p)(history, logits.clone())
    ours = top_p_filter(logits, p)
    assert torch.equal(ours.isinf(), hf.isinf())
    assert torch.equal(ours, hf)
    assert (~ours.isinf()).sum(-1).min() >= 1


@pytest.mark.parametrize("min_p", [0.01, 0.1, 0.5, 1.0])
def test_min_p_matches_hf(logits, history, min_p):
    hf = transformers.MinPLogitsWarper(min_p)(history, logits.clone())
    assert torch.equal(min_p_filter(logits, min_p), hf)


@pytest.mark.parametrize("theta", [0.5, 1.3, 2.0])
def test_repetition_penalty_matches_hf(logits, history, theta):
    hf = transformers.RepetitionPenaltyLogitsProcessor(theta)(history, logits.clone())
    ours = repetition_penalty(logits, seen_mask(history, logits.size(-1)), theta)
    torch.testing.assert_close(ours, hf, rtol=0, atol=0)
    unseen = ~seen_mask(history, logits.size(-1))
    assert torch.equal(ours[unseen], logits[unseen])


def test_presence_frequency_formula():
    logits = torch.tensor([[1.0, 2.0, 3.0, -1.0]])
    counts = torch.tensor([[0, 1, 3, 2]])
    out = presence_frequency_penalty(logits, counts, presence=0.5, frequency=0.25)
    assert torch.equal(out, torch.tensor([[1.0, 2.0 - 0.5 - 0.25, 3.0 - 0.5 - 0.75, -1.0 - 0.5 - 0.5]]))


def test_composition_matches_hf_pipeline(logits, history):
    """Penalty -> temperature -> top-k -> top-p -> min-p, as HF's generate builds its processor list."""
    pipeline = transformers.LogitsProcessorList([
        transformers.RepetitionPenaltyLogitsProcessor(1.2), transformers.TemperatureLogitsWarper(0.7),
        transformers.TopKLogitsWarper(40), transformers.TopPLogitsWarper(0.9), transformers.MinPLogitsWarper(0.05)])
    config = GenerationConfig(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.2)
    ours = process_logits(logits, config, seen=seen_mask(history, logits.size(-1)))
    torch.testing.assert_close(ours, pipeline(history, logits.clone()), rtol=1e-6, atol=1e-6)


def test_greedy_is_argmax_after_penalties(logits, history):
    seen = seen_mask(history, logits.size(-1))
    config = GenerationConfig(temperature=0, repetition_penalty=3.0)
    assert torch.equal(sample_next(logits, config, seen), repetition_penalty(logits, seen, 3.0).argmax(-1))


@pytest.mark.parametrize("options", [dict(temperature=0.8), dict(temperature=1.3, top_k=6),
                                     dict(temperature=1.0, top_p=0.8), dict(temperature=0.9, min_p=0.1),
                                     dict(temperature=1.1, top_k=10, top_p=0.95, min_p=0.02)])
def test_sampled_frequencies_match_filtered_distribution(options):
    """24,000 draws at a fixed seed: filtered-out tokens never appear, the rest fit softmax(filtered) (χ² test)."""
    base = torch.randn(1, 16, generator=torch.Generator().manual_seed(3)) * 2
    config = GenerationConfig(**options)
    probs = torch.softmax(process_logits(base, config), dim=-1)[0].double()
    draws = sample_next(base.expand(24_000, -1), config, generator=torch.Generator().manual_seed(42))
    counts = torch.bincount(draws, minlength=16).double()
    assert counts[probs == 0].sum() == 0
    kept = probs > 0
    expected = probs[kept] / probs[kept].sum() * counts.sum()
    result = chisquare(counts[kept].numpy(), expected.numpy())
    assert result.pvalue > 1e-3, (options, result)
    # the test can fail: the *unfiltered* distribution is rejected whenever a filter removed mass
    if (~kept).any():
        unfiltered = torch.softmax(base.double() / config.temperature, dim=-1)[0]
        assert chisquare(counts.numpy(), (unfiltered * counts.sum()).numpy()).pvalue < 1e-3


@pytest.mark.parametrize("field, value, message", [
    ("top_p", 0.0, "top_p"), ("top_p", 1.5, "top_p"), ("top_k", -1, "top_k"), ("temperature", -0.1, "temperature"),
    ("max_new_tokens", 0, "max_new_tokens"), ("num_beams", 0, "num_beams"), ("min_p", 2.0, "min_p"),
    ("repetition_penalty", 0.0, "repetition_penalty")])
def test_bad_values_are_one_line_errors(field, value, message):
    with pytest.raises(LanternError, match=message):
        GenerationConfig(**{field: value}).validate()

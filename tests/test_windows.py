"""Training-window samplers: random draws are nanoGPT's; shuffled epochs cover every token once per pass."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY_OVERRIDES
from lanternlm.config import resolve_config
from lanternlm.data import EpochWindows, RandomWindows, TokenWindows, read_corpus, window_sampler
from lanternlm.errors import LanternError
from lanternlm.train import train
from lanternlm.train.metrics import read_metrics


def stream(n: int) -> TokenWindows:
    return TokenWindows(torch.arange(n), "train")


def covered(n_tokens: int, starts: torch.Tensor, block_size: int) -> torch.Tensor:
    """How many times each token is a target of the windows at `starts`."""
    counts = torch.zeros(n_tokens, dtype=torch.long)
    targets = (starts[:, None] + 1 + torch.arange(block_size)).flatten()
    return counts.index_add_(0, targets, torch.ones_like(targets))


@settings(max_examples=200, deadline=None)
@given(n_tokens=st.integers(2, 3000), block_size=st.integers(1, 300), seed=st.integers(0, 2**32),
       epoch=st.integers(0, 5))
def test_an_epoch_is_disjoint_windows_inside_the_stream(n_tokens, block_size, seed, epoch):
    if n_tokens < block_size + 1:
        with pytest.raises(LanternError):
            EpochWindows(stream(n_tokens), block_size, seed)
        return
    sampler = EpochWindows(stream(n_tokens), block_size, seed)
    starts = sampler.starts(epoch * sampler.per_epoch, sampler.per_epoch)
    assert starts.min() >= 0 and starts.max() + block_size + 1 <= n_tokens  # every window fits
    counts = covered(n_tokens, starts, block_size)
    assert counts.max() == 1  # no token twice within an epoch
    # all but the edges are covered: the phase (< block_size) in front, less than a window (plus one) behind
    assert int(counts.sum()) == sampler.per_epoch * block_size > n_tokens - 2 * block_size - 2


def test_the_windows_of_a_step_do_not_depend_on_how_steps_are_grouped():
    """Resuming needs no sampler state: window w is the same whether asked for alone or in a batch."""
    sampler = EpochWindows(stream(1000), 16, seed=3)
    assert sampler.per_epoch == 61
    whole = sampler.starts(0, 200)  # more than three epochs
    pieces = torch.cat([EpochWindows(stream(1000), 16, seed=3).starts(i, 7) for i in range(0, 200, 7)])
    assert torch.equal(whole, pieces[:200])
    assert not torch.equal(whole[:61].sort().values, whole[61:122].sort().values)  # a new phase each epoch
    assert not torch.equal(whole, EpochWindows(stream(1000), 16, seed=4).starts(0, 200))


def test_epochs_cover_what_random_draws_miss():
    """After 1.5 epochs of windows every token has been a target; independent draws miss about e^-1.5 = 22 %."""
    n, block = 100_000, 64
    windows = int(1.5 * n / block)
    epoch = covered(n, EpochWindows(stream(n), block, seed=0).starts(0, windows), block)
    random = covered(n, RandomWindows(stream(n), block, torch.Generator().manual_seed(0)).starts(0, windows), block)
    assert (epoch[block:-2 * block] >= 1).all()  # edges aside, everything was seen at least once
    assert 0.20 < (random == 0).float().mean() < 0.25


def test_random_windows_are_the_generator_draws():
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    data = stream(500)
    starts = RandomWindows(data, 32, gen_a).starts(40, 12)  # `first` does not matter: the generator is the state
    assert torch.equal(starts, data.random_starts(12, 32, gen_b))


def test_the_config_chooses_the_sampler():
    assert resolve_config("shakespeare-char-cpu").data.window_sampling == "random"  # nanoGPT's, so runs compare
    config = resolve_config("shakespeare-char-cpu", overrides=["window_sampling=epoch"])
    gen = torch.Generator()
    assert isinstance(window_sampler(config.data.window_sampling, stream(100), 8, 0, gen), EpochWindows)
    assert isinstance(window_sampler("random", stream(100), 8, 0, gen), RandomWindows)
    with pytest.raises(LanternError, match="data.window_sampling must be one of random, epoch"):
        resolve_config("shakespeare-char-cpu", overrides=["window_sampling=shuffle"])


@pytest.mark.parametrize("sampling", ["epoch", "random"])
def test_training_resumes_exactly_with_either_sampler(tmp_path, sampling):
    def config(steps):
        return resolve_config("shakespeare-char-cpu", overrides=TINY_OVERRIDES + [
            f"max_iters={steps}", "eval_interval=4", "checkpoint_interval=4", f"window_sampling={sampling}"])

    def logged(run):
        return [(r["step"], r["loss"], r["epoch"]) for r in read_metrics(tmp_path / run / "metrics.jsonl")
                if "loss" in r]

    train(config(8), tmp_path / "straight", quiet=True)
    train(config(4), tmp_path / "split", quiet=True)
    train(config(8), tmp_path / "split", resume=True, quiet=True)
    assert len(logged("straight")) == 8 and logged("split") == logged("straight")
    train_tokens = int(len(read_corpus([])) * 0.9)  # characters are tokens; the first 90 % train
    assert logged("straight")[-1][2] == pytest.approx(8 * 8 * 32 / train_tokens, abs=1e-4)  # batch 8, block 32

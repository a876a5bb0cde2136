"""The one decoding loop reproduces, token for token, what the engine generated before it was rebuilt around
that loop: greedy, sampled with seeds and every filter and penalty, beam search, stop sequences, the uncached
path, past the context window, and a ragged batch. tests/data/make_generation_golden.py recorded them (with
the engine of commit cfdbc3a) from the fixed weights in tests/data/golden-model.safetensors."""

import json
from pathlib import Path

import pytest
from safetensors.torch import load_model

from lanternlm.config import ModelConfig
from lanternlm.generate import Engine
from lanternlm.models import build_model
from lanternlm.tokenizers import CharTokenizer

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "generation_golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def engine():
    tokenizer = CharTokenizer(list(GOLDEN["chars"]))
    config = ModelConfig(vocab_size=tokenizer.vocab_size, block_size=GOLDEN["block_size"], n_layer=2, n_head=4,
                         n_embd=32, **GOLDEN["options"])
    model = build_model(config)
    load_model(model, str(DATA / "golden-model.safetensors"))
    return Engine(model.eval(), tokenizer)


def call_options(options: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


@pytest.mark.parametrize("name", sorted(GOLDEN["cases"]))
def test_single_prompt_outputs_are_unchanged(engine, name, one_thread):
    case = GOLDEN["cases"][name]
    assert engine.generate(case["prompt"], **call_options(case["options"])) == case["text"]


def test_batched_outputs_are_unchanged(engine, one_thread):
    batch = GOLDEN["batch"]
    assert engine.generate_batch(batch["prompts"], **call_options(batch["options"])) == batch["texts"]


def test_beam_search_over_a_batch_equals_each_prompt_alone(engine, one_thread):
    """Beam search decodes several prompts (of different lengths) as one batch of beam groups."""
    prompts = ["abc", "hi", "ponmlk"]
    alone = [engine.generate(p, 20, num_beams=3) for p in prompts]
    assert len(set(alone)) == len(prompts)  # three different continuations, so a mix-up would show
    assert engine.generate_batch(prompts, 20, num_beams=3) == alone

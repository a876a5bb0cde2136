"""Continuous batching: requests that join a decoding session at different steps, with their own settings and
seeds, get the tokens they get alone; one forward pass serves rows at different positions (checked against
each row's own pass); a request that leaves (finished or cancelled) changes nothing for the others."""

from __future__ import annotations

import pytest
import torch

from conftest import perturbed_model
from test_engine import ARCHITECTURES as ENGINE_ARCHITECTURES
from lanternlm.generate import Engine
from lanternlm.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer(list("abcdefghijklmnop "))
BLOCK = 24
ARCHITECTURES = ENGINE_ARCHITECTURES  # every architecture option the engine is tested with


@pytest.fixture(autouse=True)
def one_thread_here(one_thread):
    yield


def engine_for(name: str, seed: int = 0) -> Engine:
    return Engine(perturbed_model(TOKENIZER.vocab_size, BLOCK, seed, **ARCHITECTURES[name]), TOKENIZER)


REQUESTS = [  # (joins at step, prompt(s), settings)
    (0, ["abc"], dict(max_new_tokens=12, temperature=0)),
    (0, ["hello", "po"], dict(max_new_tokens=9, temperature=0.9, seed=3, top_k=5)),
    (2, ["ponmlkjih"], dict(max_new_tokens=10, temperature=1.2, seed=11, repetition_penalty=1.3)),
    (3, ["a"], dict(max_new_tokens=6, temperature=0, num_beams=3)),
    (5, ["dead beef"], dict(max_new_tokens=8, temperature=0.7, seed=5, n=2)),
]


def alone(engine: Engine, prompts: list[str], settings: dict) -> list[list[int]]:
    settings = dict(settings)
    n = settings.pop("n", 1)
    config = engine.settings(**settings)
    rows = [TOKENIZER.encode(p) for p in prompts for _ in range(n)]
    out = [[] for _ in rows]
    for step in engine.steps(rows, config):
        for i, token in enumerate(step.ids.tolist()):
            if token >= 0:
                out[i].append(token)
    return out


def together(engine: Engine, requests, cancel: int | None = None, cancel_at: int = 4) -> list[list[list[int]]]:
    """Run the requests in one session, each joining at its step; optionally cancel one at step cancel_at."""
    session = engine.session(max_rows=16)
    handles, outputs = {}, [None] * len(requests)
    step = 0
    while step == 0 or any(not h.done or h.steps for h in handles.values()) or len(handles) < len(requests):
        for i, (joins, prompts, settings) in enumerate(requests):
            if joins == step and i not in handles:
                settings = dict(settings)
                n = settings.pop("n", 1)
                config = engine.settings(**settings)
                rows = [TOKENIZER.encode(p) for p in prompts for _ in range(n)]
                handles[i] = session.add(rows, config, engine.stop_ids(config))
                outputs[i] = [[] for _ in rows]
        if cancel is not None and step == cancel_at:
            session.remove(handles[cancel])
            handles[cancel].done, handles[cancel].steps = True, type(handles[cancel].steps)()
        if session.requests:
            session.step()
        for i, handle in handles.items():
            while handle.steps:
                for row, token in enumerate(handle.steps.popleft().ids.tolist()):
                    if token >= 0:
                        outputs[i][row].append(token)
        step += 1
    return outputs


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_requests_joining_at_different_steps_get_what_they_get_alone(name, monkeypatch):
    from lanternlm.generate.session import DecodingSession

    engine = engine_for(name)
    expected = [alone(engine, prompts, settings) for _, prompts, settings in REQUESTS]
    shared_passes = []
    original = DecodingSession._run_together
    monkeypatch.setattr(DecodingSession, "_run_together",
                        lambda self, shared: shared_passes.append(len(shared)) or original(self, shared))
    assert together(engine, REQUESTS) == expected
    assert max(shared_passes) >= 4 and len(shared_passes) >= 8  # most steps really were one pass for several
    assert len({tuple(map(tuple, e)) for e in expected}) == len(REQUESTS)  # distinct outputs: a mix-up would show


def test_one_forward_pass_for_rows_at_different_positions_equals_each_row_alone():
    engine = engine_for("rope-gqa-rmsnorm-swiglu", seed=4)
    model = engine.model
    a, b = TOKENIZER.encode("abcdefgh"), TOKENIZER.encode("ponm")
    cache = model.new_cache(2)
    with torch.no_grad():
        model(torch.tensor([a]), kv_cache=cache.rows(0, 1), start_pos=0)
        model(torch.tensor([b]), kv_cache=cache.rows(1, 1), start_pos=0)
        batched = model(torch.tensor([[3], [7]]), kv_cache=cache, start_pos=torch.tensor([len(a), len(b)]),
                        last_logits_only=True).logits[:, -1]
        for row, (prompt, token) in enumerate([(a, 3), (b, 7)]):
            full = model(torch.tensor([prompt + [token]])).logits[0, -1]
            torch.testing.assert_close(batched[row], full, rtol=0, atol=1e-5)


def test_a_request_that_leaves_changes_nothing_for_the_others():
    engine = engine_for("learned-mha", seed=2)
    full = together(engine, REQUESTS)
    cancelled = together(engine, REQUESTS, cancel=1, cancel_at=4)
    assert [out for i, out in enumerate(cancelled) if i != 1] == [out for i, out in enumerate(full) if i != 1]
    assert len(cancelled[1][0]) < len(full[1][0])  # it really was cut short


def test_past_the_context_window_a_request_leaves_the_shared_cache_and_goes_on_alone():
    engine = engine_for("learned-mha", seed=6)
    requests = [(0, ["abcdefghijklmnop"], dict(max_new_tokens=20, temperature=0)),  # 16 + 20 > 24 positions
                (1, ["abc"], dict(max_new_tokens=25, temperature=0.8, seed=1))]
    expected = [alone(engine, prompts, settings) for _, prompts, settings in requests]
    assert together(engine, requests) == expected


def test_a_request_joins_the_session_on_the_thread_that_steps_it():
    """The server builds a request's steps on its event-loop thread and runs them on the model worker: joining
    at construction would touch the session while the worker steps it (a request with no next tokens yet)."""
    engine = engine_for("learned-mha")
    session = engine.session(max_rows=4)
    config = engine.settings(max_new_tokens=3, temperature=0)
    steps = engine.steps([TOKENIZER.encode("abc")], config, session=session)
    assert session.requests == []  # built, not joined
    first = next(steps)
    assert len(session.requests) == 1 and first.ids.shape == (1,)
    steps.close()
    assert session.requests == [] and session.used == 0  # closing leaves the session and frees its rows


def test_requests_for_different_lora_adapters_share_one_forward_pass():
    """The base and two LoRA views of it in one session: every step is one pass of the base weights for all
    three requests (the adapters' updates on their own rows), and each gets what it gets decoding alone."""
    from lanternlm.generate.session import DecodingSession
    from lanternlm.models.adapted import AdaptedLM
    from lanternlm.models.lora import attach_lora, lora_layers

    base = engine_for("rope-gqa-rmsnorm-swiglu", seed=3).model
    for name, seed in (("x", 1), ("y", 2)):
        attach_lora(base, name, rank=2, alpha=4, targets=["q", "v", "o", "ff_in"])
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in lora_layers(base):
                for update in layer.adapters[name].parts.values():
                    update.B.copy_(torch.randn(update.B.shape, generator=generator) * 0.5)
    engines = [Engine(base, TOKENIZER), Engine(AdaptedLM(base, lora=("x",)), TOKENIZER),
               Engine(AdaptedLM(base, lora=("y",)), TOKENIZER)]
    settings = [dict(max_new_tokens=10, temperature=0), dict(max_new_tokens=12, temperature=0.9, seed=4),
                dict(max_new_tokens=9, temperature=0, num_beams=2)]
    prompts = ["abc", "hello", "dead"]
    expected = [alone(e, [p], s) for e, p, s in zip(engines, prompts, settings)]
    assert len({str(out) for out in expected}) == 3  # the adapters change the text: a leak would show

    session = engines[2].session(max_rows=8)  # an adapter's session is its base's
    assert session.model is base
    passes = []
    original = DecodingSession._run_together
    DecodingSession._run_together = lambda self, shared: passes.append(len(shared)) or original(self, shared)
    try:
        streams = [e.steps([TOKENIZER.encode(p)], e.settings(**s), session=session)
                   for e, p, s in zip(engines, prompts, settings)]
        outputs = [[[] for _ in range(1)] for _ in streams]
        live = list(range(3))
        while live:
            for i in list(live):
                step = next(streams[i], None)
                if step is None:
                    live.remove(i)
                    continue
                outputs[i][0] += [t for t in step.ids.tolist()[:1] if t >= 0]
    finally:
        DecodingSession._run_together = original
    assert outputs == expected
    assert passes and max(passes) == 3  # the three requests really went through one pass

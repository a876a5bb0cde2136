"""The engine: cached decoding equals the uncached reference for every architecture option (also past the
context window), batching, beam search, stop sequences/tokens, seeds, statistics and bad input."""

import itertools
import math

import pytest
import torch

from conftest import perturbed_model
from lanternlm.config import ModelConfig
from lanternlm.errors import LanternError
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.generate.beam import BeamSearch
from lanternlm.generate.decoder import Decoder
from lanternlm.generate.streaming import TextStream
from lanternlm.models import build_model
from lanternlm.tokenizers import CharTokenizer

BLOCK = 12
ARCHITECTURES = {
    "learned-mha": {},
    "sinusoidal": dict(position="sinusoidal"),
    "rope-gqa-rmsnorm-swiglu": dict(position="rope", n_kv_head=2, norm="rmsnorm", activation="swiglu", bias=False),
    "alibi-mqa": dict(position="alibi", n_kv_head=1),
    "nopos-postnorm": dict(position="none", norm_placement="post"),
    "qknorm-sliding-window": dict(position="rope", qk_norm=True, sliding_window=5),
    "moe": dict(n_expert=4, n_expert_active=2, position="rope"),
}
TOKENIZER = CharTokenizer(list("abcdefghijklmnop "))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: a second thread only adds synchronisation (and stalls badly on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(seed=0, **options):
    return perturbed_model(TOKENIZER.vocab_size, BLOCK, seed, **options)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_cached_equals_uncached_stepwise_past_the_window(name):
    """Same forced tokens into both decoders: per-step logits within 1e-5, 3 x block_size steps."""
    model = make_model(**ARCHITECTURES[name])
    prompts = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    cached, uncached = Decoder(model, use_cache=True), Decoder(model, use_cache=False)
    a, b = cached.prefill(prompts), uncached.prefill(prompts)
    forced = torch.randint(0, TOKENIZER.vocab_size, (3 * BLOCK, 2), generator=torch.Generator().manual_seed(1))
    for step, ids in enumerate(forced):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=f"{name}: step {step}")
        a, b = cached.step(ids), uncached.step(ids)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert cached.tokens.size(1) > 3 * BLOCK  # well past the context window


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_cached_equals_uncached_greedy_generation(name):
    engine = Engine(make_model(**ARCHITECTURES[name]), TOKENIZER)
    cached = engine.generate("abcab", 3 * BLOCK, temperature=0)
    assert engine.generate("abcab", 3 * BLOCK, temperature=0, use_cache=False) == cached
    assert len(cached) == 3 * BLOCK


def test_uncached_path_is_the_sliding_window():
    """The reference itself: past block_size, the logits are those of the last block_size tokens alone."""
    model = make_model()
    decoder = Decoder(model, use_cache=False)
    decoder.prefill([list(range(10))])
    for t in [10, 11, 12, 13, 14]:
        logits = decoder.step(torch.tensor([t % TOKENIZER.vocab_size]))
    window = decoder.tokens[:, -BLOCK:]
    torch.testing.assert_close(logits, model(window, last_logits_only=True).logits[:, -1], rtol=0, atol=0)
    torch.testing.assert_close(logits, model(window).logits[:, -1], rtol=0, atol=1e-5)  # same, all positions


def test_batched_prompts_of_different_lengths_equal_one_by_one():
    engine = Engine(make_model(position="rope", n_kv_head=2), TOKENIZER)
    prompts = ["a", "hello", "abcdefghij", "ponm"]
    batched = engine.generate_batch(prompts, 15, temperature=0)
    assert batched == [engine.generate(p, 15, temperature=0) for p in prompts]
    assert len(set(batched)) > 1  # the rows really differ, so a mix-up between them would show


def test_sampling_is_seeded_and_penalties_change_output():
    engine = Engine(make_model(), TOKENIZER)
    a = engine.generate("abc", 30, temperature=1.0, seed=7, top_p=0.9)
    assert a == engine.generate("abc", 30, temperature=1.0, seed=7, top_p=0.9)
    assert a != engine.generate("abc", 30, temperature=1.0, seed=8, top_p=0.9)
    greedy = engine.generate("abc", 30, temperature=0)
    penalised = engine.generate("abc", 30, temperature=0, repetition_penalty=5.0)
    assert penalised != greedy
    assert len(set(penalised)) > len(set(greedy))  # θ pushes away from already-seen characters


def test_stop_sequences_and_tokens():
    engine = Engine(make_model(), TOKENIZER)
    free = engine.generate("abc", 40, temperature=0)
    stop = free[5:7]
    cut = engine.generate("abc", 40, temperature=0, stop=(stop,))
    assert cut == free[: free.index(stop)]
    token = free[6]
    config = engine.settings(temperature=0, max_new_tokens=40, stop_tokens=(TOKENIZER.encode(token)[0],))
    ids = [int(step.ids[0]) for step in engine.steps([TOKENIZER.encode("abc")], config)]
    assert TOKENIZER.decode(ids) == free[: free.index(token)]


def test_text_stream_holds_back_a_split_stop_sequence_and_partial_utf8():
    tok = CharTokenizer(list("ab<|>x"))
    stream = TextStream(tok, stop=("<|>",))
    pieces = [stream.push(i) for i in tok.encode("ab<|x<|")]
    assert "".join(pieces) == "ab<|x" and pieces[-1] == "" and not stream.stopped
    assert stream.push(tok.encode(">")[0]) == "" and stream.stopped  # "<|" + ">" completes the stop sequence
    from lanternlm.tokenizers import BPETokenizer
    bpe = BPETokenizer([])  # pure byte tokens: "é" is two tokens
    stream = TextStream(bpe)
    assert [stream.push(i) for i in bpe.encode("é!")] == ["", "é", "!"]


def beam_search(model, prompt, num_beams, max_new_tokens, length_penalty=1.0, stop_tokens=(), use_cache=True):
    """Drive the BeamSearch chooser over a Decoder by hand (what Engine.steps does) for one prompt."""
    config = GenerationConfig(num_beams=num_beams, max_new_tokens=max_new_tokens, length_penalty=length_penalty)
    chooser, decoder = BeamSearch(1, config, stop_tokens), Decoder(model, use_cache=use_cache)
    with torch.no_grad():
        logits = decoder.prefill(chooser.decoder_rows([prompt]))
        while not (choice := chooser.choose(logits, decoder.in_prompt)).done:
            decoder.reorder(choice.reorder)
            logits = decoder.step(choice.next_ids)
    return chooser.groups[0].best()


def test_beam_search_with_one_beam_is_greedy():
    engine = Engine(make_model(seed=0, position="rope"), TOKENIZER)
    greedy = engine.generate("abc", 20, temperature=0)
    assert len(set(greedy)) > 2  # not a degenerate repetition
    assert TOKENIZER.decode(beam_search(engine.model, TOKENIZER.encode("abc"), 1, 20)) == greedy


def sequence_logprob(model, prompt, continuation):
    ids = torch.tensor([prompt + continuation])
    logprobs = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
    return sum(logprobs[len(prompt) - 1 + i, t].item() for i, t in enumerate(continuation))


def test_beam_search_is_exhaustive_when_beams_cover_every_prefix():
    """V^2 beams over 3 new tokens keep every prefix: the result is the most probable of all V^3 sequences."""
    tok = CharTokenizer(list("abcd"))
    torch.manual_seed(3)
    model = build_model(ModelConfig(vocab_size=4, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    prompt = [0, 1]
    best = max(itertools.product(range(4), repeat=3), key=lambda c: sequence_logprob(model, prompt, list(c)))
    greedy = Engine(model, tok).generate("ab", 3, temperature=0)
    found = beam_search(model, prompt, num_beams=16, max_new_tokens=3)
    assert found == list(best)
    assert sequence_logprob(model, prompt, found) >= sequence_logprob(model, prompt, tok.encode(greedy))
    assert beam_search(model, prompt, 16, 3, use_cache=False) == found


def exhaustive_best(model, prompt, vocab, max_new_tokens, stop, length_penalty):
    """Brute force: every hypothesis (ended by the stop token, or max_new_tokens long without it) scored by
    log p / length ** length_penalty."""
    hypotheses = []
    for n in range(1, max_new_tokens + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if stop not in seq[:-1] and (seq[-1] == stop or n == max_new_tokens):
                hypotheses.append(list(seq))
    return max(hypotheses, key=lambda s: sequence_logprob(model, prompt, s) / len(s) ** length_penalty)


def test_beam_length_penalty_ranks_finished_hypotheses_by_normalised_score():
    """With beams covering every prefix (V^2 = 16 beams, 3 tokens), the result is the best of all hypotheses
    under the length penalty, and a stop token + length penalty really change which one wins."""
    torch.manual_seed(5)
    model = build_model(ModelConfig(vocab_size=4, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    prompt, changed = [0, 1], False
    for stop in range(4):
        found = {lp: beam_search(model, prompt, 16, 3, length_penalty=lp, stop_tokens=(stop,)) for lp in (0.0, 5.0)}
        for lp, seq in found.items():
            assert seq == exhaustive_best(model, prompt, 4, 3, stop, lp)
        changed |= len(found[0.0]) < len(found[5.0])  # 0 prefers short sums; 5 rewards length
    assert changed


def test_stats_report_time_to_first_token_and_throughput():
    engine = Engine(make_model(), TOKENIZER)
    pieces = engine.stream("abc", 20, temperature=0)
    assert pieces.stats.new_tokens == 0
    assert len("".join(pieces)) == 20
    stats = pieces.stats
    assert stats.new_tokens == 20 and stats.prompt_tokens == 3
    assert 0 < stats.time_to_first_token <= stats.total_time
    assert math.isfinite(stats.tokens_per_sec) and stats.tokens_per_sec > 0
    assert "time to first token" in stats.summary()


@pytest.mark.parametrize("prompt, options, message", [
    ("", {}, "empty"), ("abc日本", {}, "not in the vocabulary"), ("abc", dict(top_p=0.0), "top_p"),
    ("abc", dict(top_p=1.01), "top_p"), ("abc", dict(top_k=-1), "top_k"), ("abc", dict(temperature=-1.0), "temperature"),
    ("abc", dict(max_new_tokens=0), "max_new_tokens"), ("abc", dict(num_beams=0), "num_beams")])
def test_bad_input_is_a_one_line_error(prompt, options, message):
    engine = Engine(make_model(), TOKENIZER)
    with pytest.raises(LanternError, match=message):
        engine.generate(prompt, **{"max_new_tokens": 5, **options})


def test_bad_settings_are_refused_at_every_python_entry_point():
    engine = Engine(make_model(), TOKENIZER)
    with pytest.raises(LanternError, match="top_p"):
        engine.generate_batch(["abc"], 5, config=GenerationConfig(top_p=2.0))
    with pytest.raises(LanternError, match="empty"):
        engine.generate_batch(["abc", ""], 5)
    with pytest.raises(LanternError, match="top_k"):
        engine.stream("abc", 5, top_k=-2)
    for bad in (dict(temperature=float("nan")), dict(temperature=float("inf")), dict(num_beams=10_000),
                dict(seed=2**64), dict(max_new_tokens=10**23), dict(frequency_penalty=float("inf"))):
        with pytest.raises(LanternError):
            engine.generate("abc", **bad)


def test_settings_are_validated_exactly_once_per_python_call(monkeypatch):
    calls = []
    original = GenerationConfig.validate
    monkeypatch.setattr(GenerationConfig, "validate", lambda self: calls.append(1) or original(self))
    engine = Engine(make_model(), TOKENIZER)
    engine.generate("abc", 5, temperature=0)
    assert len(calls) == 1
    engine.generate_batch(["abc", "de"], 5, num_beams=2)
    assert len(calls) == 2
    "".join(engine.stream("abc", 5))
    assert len(calls) == 3


def hf_pair(tmp_path, hf_model):
    """A random-weight HF model and the same weights imported into Lantern through the interop converter."""
    from lanternlm.interop.hf import load_hf_model

    hf_model.eval().save_pretrained(tmp_path)
    return hf_model, load_hf_model(tmp_path)[1]


@pytest.mark.slow  # the first transformers model + generate call pays its lazy imports
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_greedy_parity_with_transformers_generate(tmp_path, family):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if family == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=64, n_positions=64, vocab_size=300,
                                         initializer_range=0.2)
        hf_model = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
                                          max_position_embeddings=64, initializer_range=0.2)
        hf_model = transformers.LlamaForCausalLM(config)
    hf_model, ours = hf_pair(tmp_path, hf_model)
    hf_model.generation_config.eos_token_id = None  # no early stop on either side: compare all 30 tokens
    engine = Engine(ours, TOKENIZER)
    generator = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 300, (n,), generator=generator).tolist() for n in (1, 7, 16)]
    config = GenerationConfig(max_new_tokens=30, temperature=0, stop_tokens=())
    expected = []
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([prompt])
            out = hf_model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=30,
                                    pad_token_id=0)
            expected.append(out[0, len(prompt):].tolist())
            assert [int(step.ids[0]) for step in engine.steps([prompt], config)] == expected[-1]
    rows = [[] for _ in prompts]  # the same prompts as one ragged batch
    for step in engine.steps(prompts, config):
        for row, token in zip(rows, step.ids.tolist()):
            if token >= 0:
                row.append(token)
    assert rows == expected

"""The playground's "look inside" panels in a real browser (Playwright + Debian's chromium) against a real
`lantern serve RUN --vectors FILE`: each panel is driven like a person would and what it shows is checked
against an independent computation. Screenshots go to test-artifacts/playground/. Skips without a browser."""

from __future__ import annotations

import json
import math
from collections import Counter

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

from serve_helpers import SHOTS, playground_page, require_chromium, running_server  # noqa: E402
from test_inside_api import analogy_vectors  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]


@pytest.fixture(scope="module")
def page(tiny_run, tmp_path_factory):
    require_chromium()
    vectors = tmp_path_factory.mktemp("vectors") / "words.vec"
    analogy_vectors().save(vectors)
    with running_server(str(tiny_run), "--vectors", str(vectors)) as url, playground_page(url) as page:
        page.server = url
        yield page


def test_pipeline_draws_every_stage_with_its_shape(page):
    page.click("#tab-pipeline")
    page.wait_for_selector("#pipe-boxes[data-stages]", timeout=30_000)
    stages = int(page.get_attribute("#pipe-boxes", "data-stages"))
    assert page.locator(".stage").count() == stages + 2  # + the tokens box and the chosen token
    shape = {kind: page.locator(f".stage[data-kind={kind}]").first.get_attribute("data-shape")
             for kind in ("token_embedding", "sum", "logits", "probabilities")}
    assert shape == {"token_embedding": "6,32", "sum": "6,32", "logits": "6,65", "probabilities": "65"}  # "ROMEO:"
    assert page.locator(".stage[data-kind=layer]").count() == 2
    assert "one_hot(ids) (6 × 65) @ E (65 × 32) == E[ids]: max |difference| 0" in page.text_content("#pipe-boxes")
    assert "attention entropy per head" in page.locator(".stage[data-kind=layer]").first.text_content()
    page.screenshot(path=str(SHOTS / "pipeline.png"), full_page=True)


def test_temperature_panel_entropies_rise_with_temperature(page):
    page.click("#tab-temperature")
    page.wait_for_function("document.querySelectorAll('.temp-card').length === 3", timeout=30_000)
    cards = page.locator(".temp-card")
    temperatures = [float(cards.nth(i).get_attribute("data-temperature")) for i in range(3)]
    entropies = [float(cards.nth(i).get_attribute("data-entropy")) for i in range(3)]
    assert temperatures == [0.1, 1.0, 2.0]
    assert entropies[0] < entropies[1] < entropies[2]
    top = [float(cards.nth(i).locator(".bar-row").first.get_attribute("data-prob")) for i in range(3)]
    assert top[0] > top[1] > top[2]  # the top token's share shrinks as T grows
    page.screenshot(path=str(SHOTS / "temperature.png"))


def test_greedy_table_grows_one_step_at_a_time(page, tiny_run):
    page.click("#tab-greedy")
    for n in (1, 2, 3):
        page.click("#greedy-step")
        page.wait_for_function(f"document.querySelectorAll('#greedy-table tbody tr').length === {n}",
                               timeout=30_000)
    rows = page.locator("#greedy-table tbody tr")
    assert all(rows.nth(i).get_attribute("data-chosen") == rows.nth(i).get_attribute("data-first") for i in range(3))
    completion = httpx.post(page.server + "/v1/completions", json={"model": tiny_run.name, "prompt": "ROMEO:",
                                                              "max_tokens": 3, "temperature": 0}, timeout=60).json()
    assert page.get_attribute("#greedy-text", "data-generated") == completion["choices"][0]["text"]
    page.screenshot(path=str(SHOTS / "greedy.png"))


def test_token_loss_view_matches_eval(page, tiny_run):
    from lanternlm.data import TokenWindows
    from lanternlm.eval import evaluate_windows, token_byte_lengths
    from lanternlm.runs import load_run

    page.click("#tab-loss")
    page.wait_for_selector("#loss-summary[data-loss]", timeout=30_000)
    text = page.input_value("#loss-input")
    run = load_run(tiny_run)
    expected = evaluate_windows(run.model, TokenWindows.from_text(run.tokenizer, text), 32,
                                token_byte_lengths(run.tokenizer)).loss
    assert math.isclose(float(page.get_attribute("#loss-summary", "data-loss")), expected, rel_tol=1e-6)
    assert page.locator("#loss-text .tok").count() == len(text)  # the first token (context) + one per scored
    assert page.locator("#loss-table tbody tr").count() == len(text) - 1
    last_mean = page.locator("#loss-table tbody tr").last.locator("td").last.text_content()
    assert abs(float(last_mean) - expected) < 1e-4  # the running mean ends at the cross-entropy
    page.screenshot(path=str(SHOTS / "token-loss.png"))


def test_bpe_panel_steps_through_merges_most_frequent_first(page):
    from lanternlm.tokenizers.pretokenize import pre_split

    text = "the cat sat on the mat; the cat ate"
    page.click("#tab-bpe")
    page.fill("#bpe-input", text)
    page.fill("#bpe-merges", "6")
    page.click("#bpe-train")
    page.wait_for_function(f"document.querySelector('#bpe-tokens').dataset.count === '{len(text)}'", timeout=30_000)
    page.click("#bpe-next")
    page.wait_for_selector("#bpe-merge[data-pair]")
    pairs = Counter(p for chunk in pre_split(text, "gpt2") for p in zip(chunk, chunk[1:]))
    best = max(pairs.values())
    first = tuple(json.loads(page.get_attribute("#bpe-merge", "data-pair")))
    assert pairs[first] == best == int(page.get_attribute("#bpe-merge", "data-count"))
    counts = [int(page.get_attribute("#bpe-tokens", "data-count"))]
    page.focus("#bpe-step")
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # the slider steps through the merges by keyboard
        counts.append(int(page.get_attribute("#bpe-tokens", "data-count")))
    assert all(a > b for a, b in zip(counts, counts[1:]))  # every merge shortens the text
    page.screenshot(path=str(SHOTS / "bpe.png"))


def test_context_cost_panel_shows_kv_cache_bytes(page):
    page.click("#tab-cost")
    page.wait_for_selector("#cost-canvas[data-rendered]", timeout=30_000)
    served = page.locator("#cost-table tbody tr").first
    assert served.get_attribute("data-per-token") == str(2 * 2 * 2 * 16 * 4)  # 2·layers·heads·d_head·4 bytes
    assert page.locator("#cost-table tbody tr[data-model=gpt2]").count() == 1
    page.select_option("#cost-dtype", "float16")
    page.wait_for_selector(f"#cost-table tbody tr[data-per-token='{2 * 2 * 2 * 16 * 2}']", timeout=30_000)
    page.screenshot(path=str(SHOTS / "context-cost.png"), full_page=True)


def test_analogy_panel_uses_the_served_word_vectors(page):
    page.click("#tab-embeddings")
    page.wait_for_selector("#emb-space option[value=vectors]", state="attached", timeout=30_000)
    page.select_option("#emb-space", "vectors")
    page.fill("#emb-a", "man")
    page.fill("#emb-b", "king")
    page.fill("#emb-c", "woman")
    page.click("#emb-analogy-form button")
    page.wait_for_selector("#emb-analogy li", timeout=30_000)
    assert page.locator("#emb-analogy li").first.text_content().startswith('"queen"')
    page.screenshot(path=str(SHOTS / "word-vectors.png"))

"""The playground's Classify tab in a real browser (Playwright + Debian's chromium) against a real `lantern serve`:
a server without classifier adapters has no Classify tab (a link to it falls back to another tab); with two, the
user picks one, types texts one per line and sees each text's label and one bar per label, whose probabilities
are exactly what POST /v1/classify answers for the same texts (the page posts them there); a text the
vocabulary cannot encode is a one-line error and the tab keeps working. Screenshots go to
test-artifacts/playground/. Skips without a browser."""

from __future__ import annotations

import json

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

from serve_helpers import SHOTS, playground_page, require_chromium, running_server  # noqa: E402
from test_serve_adapters import make_classifier_adapter  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]
TOPICS = ("war", "love", "court")


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    require_chromium()
    folder = tmp_path_factory.mktemp("classifiers")
    make_classifier_adapter(tiny_run, folder / "mood.safetensors")
    make_classifier_adapter(tiny_run, folder / "topic.safetensors", labels=TOPICS, seed=4)
    with running_server(str(tiny_run), "--adapter", f"mood={folder / 'mood.safetensors'}",
                        "--adapter", f"topic={folder / 'topic.safetensors'}") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with playground_page(server) as page:
        yield page


def shown(page) -> list[dict]:
    """Each result card as the page shows it: its text, its label, and each bar's label and probability."""
    return page.evaluate("""() => [...document.querySelectorAll('#cls-results .cls-card')].map(card => ({
        text: card.querySelector('h2').textContent, label: card.dataset.label,
        verdict: card.querySelector('.summary').textContent,
        scores: Object.fromEntries([...card.querySelectorAll('.bar-row')].map(row =>
            [row.querySelector('.bar-token').textContent, parseFloat(row.dataset.prob)]))}))""")


def asked_directly(url: str, model: str, texts: list[str]) -> list[dict]:
    response = httpx.post(url + "/v1/classify", json={"model": model, "input": texts}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def classify_on_page(page, model: str, texts: list[str]) -> dict:
    """Type the texts, press Classify, wait for the cards; returns the JSON body the page posted."""
    page.fill("#cls-input", "\n".join(texts))
    page.select_option("#cls-model", model)
    with page.expect_request("**/v1/classify") as request:
        page.click("#cls-run")
    page.wait_for_selector(f"#cls-results[data-model='{model}']", timeout=30_000)
    return json.loads(request.value.post_data)


def assert_same_as_the_api(page, url: str, model: str, texts: list[str]) -> None:
    cards, expected = shown(page), asked_directly(url, model, texts)
    assert [card["text"] for card in cards] == texts
    for card, row in zip(cards, expected):
        assert card["scores"] == row["scores"]  # the very numbers /v1/classify answers, one bar per label
        assert card["label"] == row["label"] == max(card["scores"], key=card["scores"].get)
        assert card["verdict"].startswith(f"→ {row['label']} (")
        assert sum(card["scores"].values()) == pytest.approx(1.0, abs=1e-4)


def test_no_classifier_no_classify_tab(tiny_run):
    require_chromium()
    with running_server(str(tiny_run)) as url, playground_page(url) as page:
        assert httpx.get(url + "/api/models").json()["classifiers"] == []
        assert page.is_hidden("#tab-classify")
        page.goto(url + "/#classify")
        page.reload()  # a link straight to the tab: it is not shown, another tab is
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.is_hidden("#tab-classify") and page.is_hidden("#panel-classify")
        assert page.get_attribute("#tab-classify", "aria-selected") == "false"


def test_classify_tab_shows_what_v1_classify_answers(page, server, tiny_run):
    mood, topic = f"{tiny_run.name}:mood", f"{tiny_run.name}:topic"
    listed = httpx.get(server + "/api/models").json()["classifiers"]
    assert [(c["id"], c["labels"]) for c in listed] == [(mood, ["neg", "pos"]), (topic, list(TOPICS))]
    assert page.is_visible("#tab-classify")
    page.click("#tab-classify")  # the first visit classifies the sample texts with the first classifier
    page.wait_for_selector(f"#cls-results[data-model='{mood}']", timeout=30_000)
    samples = [line for line in page.input_value("#cls-input").split("\n") if line.strip()]
    assert_same_as_the_api(page, server, mood, samples)

    assert page.is_visible("#cls-model")  # two classifiers: the user picks one
    texts = ["a fine and noble king", "O, woe is me", "Good morrow, cousin"]
    posted = classify_on_page(page, topic, texts)
    assert posted["model"] == topic and posted["input"] == texts
    assert all(list(card["scores"]) == list(TOPICS) for card in shown(page))
    assert_same_as_the_api(page, server, topic, texts)
    page.screenshot(path=str(SHOTS / "classify.png"))


def test_a_text_the_vocabulary_lacks_is_a_one_line_error(page, server, tiny_run):
    mood = f"{tiny_run.name}:mood"
    page.click("#tab-classify")
    page.wait_for_selector("#cls-results[data-model]", timeout=30_000)  # the first visit's answer is in
    page.fill("#cls-input", "it costs €5")
    page.click("#cls-run")
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    answer = httpx.post(server + "/v1/classify", json={"model": mood, "input": ["it costs €5"]}, timeout=30)
    assert answer.status_code == 400
    message = page.text_content("#error")
    assert message == answer.json()["error"]["message"] and "\n" not in message
    assert page.locator("#cls-results .cls-card").count() == 0  # no stale bars beside the error
    classify_on_page(page, mood, ["a fine and noble king"])  # the tab still works, and the error goes away
    assert page.is_hidden("#error")
    assert_same_as_the_api(page, server, mood, ["a fine and noble king"])

"""The playground's Translate tab in a real browser (Playwright + Debian's chromium) against a real `lantern serve`
of an encoder–decoder run: the translation appears and the cross-attention alignment is drawn as a heat-map of
target x source tokens. Screenshots go to test-artifacts/playground/. Skips without a browser."""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

from serve_helpers import SHOTS, playground_page, require_chromium, running_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]


@pytest.fixture(scope="module")
def page(translation_run):
    require_chromium()
    with running_server(str(translation_run[0])) as url, playground_page(url) as page:
        page.click("#tab-translate")
        yield page


def canvas_colours(page, selector: str) -> int:
    return page.evaluate("""selector => {
        const c = document.querySelector(selector);
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < data.length; i += 16) seen.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
        return seen.size;
    }""", selector)


def test_translate_tab_shows_the_translation_and_its_alignment(page):
    page.fill("#tr-input", "")
    page.type("#tr-input", "Where do you live?", delay=5)
    page.fill("#tr-beam", "3")
    page.click("#tr-run")
    page.wait_for_function("document.querySelector('#tr-output').textContent === 'Où habites-tu ?'",
                           timeout=30_000)
    page.wait_for_function("document.querySelector('#tr-summary').textContent.includes('beam 3')")
    rows = int(page.get_attribute("#tr-canvas", "data-rendered"))
    assert rows >= 3  # the target tokens and the end token
    assert canvas_colours(page, "#tr-canvas") > 20  # coloured cells, not a blank image
    weights = page.evaluate("document.querySelector('#tr-canvas').weights")
    assert len(weights) == rows and all(abs(sum(row) - 1) < 0.01 for row in weights)  # each step's weights sum to 1
    page.select_option("#tr-layer", "1")
    page.select_option("#tr-head", "0")
    one_head = page.evaluate("document.querySelector('#tr-canvas').weights")
    assert one_head != weights
    page.screenshot(path=str(SHOTS / "translate.png"))


def test_a_sentence_too_long_is_a_readable_error(page):
    page.fill("#tr-input", "word " * 60)
    page.click("#tr-run")
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    assert "reads at most" in page.text_content("#error")

"""The playground in a real browser (Playwright + Debian's chromium) against a real `lantern serve`:
the tokenizer counts tokens, the temperature slider changes the probabilities, chat streams text, the
attention tab draws a heat-map. Screenshots go to test-artifacts/playground/. Skips without a browser."""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

from serve_helpers import SHOTS, playground_page, require_chromium, running_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]


@pytest.fixture(scope="module")
def page(tiny_run):
    require_chromium()
    with running_server(str(tiny_run)) as url, playground_page(url) as page:
        yield page


def test_tokenizer_box_counts_tokens(page, tiny_run):
    from lanternlm.tokenizers import load_tokenizer

    text = "Wherefore art thou, Romeo?"
    expected = len(load_tokenizer(tiny_run).encode(text))
    page.fill("#tok-input", "")
    page.type("#tok-input", text, delay=5)  # real key presses, as a person types
    page.wait_for_selector(f"#tok-count[data-count='{expected}']", timeout=15_000)
    assert page.locator("#tok-tokens .tok").count() == expected
    page.screenshot(path=str(SHOTS / "tokenizer.png"))


def first_prob(page) -> float:
    return float(page.locator(".bar-row").first.get_attribute("data-prob"))


def test_temperature_slider_changes_probabilities(page):
    page.click("#tab-next")
    page.wait_for_selector(".bar-row", timeout=15_000)
    page.wait_for_function("document.querySelector('#next-summary').textContent.includes('temperature 1.00')")
    at_one = first_prob(page)
    page.focus("#next-temp")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # 1.00 -> 0.50 by keyboard, 0.05 a step
    page.wait_for_function("document.querySelector('#next-summary').textContent.includes('temperature 0.50')")
    sharper = first_prob(page)
    assert sharper > at_one  # a lower temperature concentrates probability on the top token
    page.screenshot(path=str(SHOTS / "next-token.png"))


def test_chat_streams_text(page):
    page.click("#tab-chat")
    page.fill("#s-max_tokens", "60")
    page.fill("#chat-input", "Good morrow!")
    # count the updates of the reply as they happen: streamed text arrives in many pieces, not one
    page.evaluate("""() => {
        window.replyUpdates = 0;
        new MutationObserver(() => window.replyUpdates++)
            .observe(document.querySelector('#chat-log'), {subtree: true, childList: true, characterData: true});
    }""")
    page.focus("#chat-input")
    page.keyboard.press("Control+Enter")  # the keyboard shortcut sends
    page.wait_for_selector(".msg.assistant[data-done=true]", timeout=60_000)
    reply = page.locator(".msg.assistant .content").last.text_content()
    assert len(reply) > 0
    assert page.evaluate("window.replyUpdates") > 5
    assert "tokens/s" in page.text_content("#chat-stats")
    page.screenshot(path=str(SHOTS / "chat.png"))


def test_attention_tab_draws_a_heatmap(page):
    page.click("#tab-attention")
    page.wait_for_selector("#attn-canvas[data-rendered]", timeout=30_000)
    # the canvas holds coloured cells, not a blank image: count distinct colours in its pixels
    colours = page.evaluate("""() => {
        const c = document.querySelector('#attn-canvas');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < data.length; i += 16) seen.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
        return seen.size;
    }""")
    assert colours > 20
    page.select_option("#attn-head", "mean")
    page.screenshot(path=str(SHOTS / "attention.png"))

"""The playground with encoders, in a real browser (Playwright + Debian's chromium) against a real `lantern serve`:
an encoder hides the generation tabs and shows the encoder cards (similarity matrix, nearest sentences in the
served index, a word in two contexts, fill in the blank); a GPT brings the tabs back. all-MiniLM-L6-v2 gives
the sentence vectors real meaning. Screenshots go to test-artifacts/playground/. Skips without a browser."""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

from serve_helpers import SHOTS, playground_page, require_chromium, running_server  # noqa: E402

from lanternlm.cli import main  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-browser")]
INDEXED = ["A violinist plays in the concert hall.", "The bank raised its interest rates.",
           "Children build a sandcastle on the beach.", "The orchestra performed a symphony last night."]


@pytest.fixture(scope="module")
def page(minilm_run, tiny_bert_run, tiny_run, tmp_path_factory):
    require_chromium()
    folder = tmp_path_factory.mktemp("playground-index")
    (folder / "texts.txt").write_text("\n".join(INDEXED) + "\n")
    assert main(["embed", "sentences", str(minilm_run), "-i", str(folder / "texts.txt"), "-o", str(folder / "vecs"),
                 "-q"]) == 0
    with running_server(str(minilm_run), str(tiny_bert_run), str(tiny_run), "--index", str(folder / "vecs")) as url, \
            playground_page(url) as page:
        yield page


def choose(page, model: str) -> None:
    page.select_option("#model", model)
    page.click("#tab-embeddings")


def test_an_encoder_hides_generation_and_shows_its_cards(page, minilm_run, tiny_run):
    choose(page, minilm_run.name)
    assert page.is_hidden("#tab-next") and page.is_hidden("#tab-chat") and page.is_visible("#tab-attention")
    assert page.is_visible("#encoder-cards") and page.is_hidden("#enc-fill-form")  # MiniLM has no MLM head
    page.focus("#tab-embeddings")
    page.keyboard.press("ArrowLeft")  # the arrow keys skip the hidden tabs
    assert page.evaluate("document.activeElement.id") == "tab-attention"
    choose(page, tiny_run.name)
    assert page.is_visible("#tab-next") and page.is_visible("#tab-chat") and page.is_hidden("#encoder-cards")


def test_similarity_matrix_search_and_contextual_word(page, minilm_run):
    choose(page, minilm_run.name)
    page.click("#enc-sim-form button")
    page.wait_for_selector("#enc-sim-matrix[data-size='4']", timeout=60_000)
    cells = page.locator("#enc-sim-matrix td").all_text_contents()
    matrix = [[float(v) for v in cells[i * 4:(i + 1) * 4]] for i in range(4)]
    assert matrix[0][0] == pytest.approx(1.0, abs=0.01) and matrix[0][1] > matrix[0][2]  # guitar ~ instrument

    assert "4 sentences of the index" in page.text_content("#enc-search-source")
    page.fill("#enc-query", "a classical music performance")
    page.click("#enc-search-form button")
    page.wait_for_selector("#enc-search-results li", timeout=60_000)
    top_two = page.locator("#enc-search-results li").all_text_contents()[:2]
    assert all("violinist" in t or "orchestra" in t for t in top_two)

    page.click("#enc-ctx-form button")
    page.wait_for_selector("#enc-ctx-result[data-contextual]", timeout=60_000)
    assert float(page.get_attribute("#enc-ctx-result", "data-contextual")) < 0.95
    assert "static cosine 1.000" in page.text_content("#enc-ctx-result")
    page.screenshot(path=str(SHOTS / "encoder.png"), full_page=True)


def test_fill_in_the_blank(page, tiny_bert_run):
    choose(page, tiny_bert_run.name)
    assert page.is_visible("#enc-fill-form")
    page.fill("#enc-fill-text", "to be or not to [MASK]")
    page.click("#enc-fill-form button")
    page.wait_for_selector("#enc-fill-candidates li", timeout=60_000)
    assert page.locator("#enc-fill-candidates li").count() == 5
    assert page.text_content("#enc-fill-result").startswith("to be or not to")

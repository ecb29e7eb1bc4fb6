"""The Streamlit UI in a real browser (Debian chromium driven by Playwright) against the running API."""

import os
import re
import shutil
import sys
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import REPO
from tests.serving.home import serving_home
from tests.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@contextmanager
def chat_in_browser(ui_port: int, question: str):
    """Debian chromium opens the Streamlit UI and asks `question`; yields the page."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"http://127.0.0.1:{ui_port}", wait_until="networkidle")
        box = page.get_by_placeholder("Ask about a stock", exact=False)
        box.wait_for(timeout=60_000)
        box.fill(question)
        box.press("Enter")
        try:
            yield page
        finally:
            browser.close()


@contextmanager
def api_and_ui():
    """The chatbot API and the Streamlit UI as their own processes (serving_home's env); yields the UI port."""
    bin_dir = os.path.dirname(sys.executable)
    api_port, ui_port = free_port(), free_port()
    api = [sys.executable, "-m", "uvicorn", "stock_serving.api:app", "--host", "127.0.0.1", "--port", str(api_port)]
    ui = [os.path.join(bin_dir, "streamlit"), "run", "stock_serving/ui.py", "--server.port", str(ui_port),
          "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    env = {**os.environ, "API_URL": f"http://127.0.0.1:{api_port}"}
    with running(api, cwd=REPO, env=env), running(ui, cwd=REPO, env=env):
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200, 120, "the API")
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health").status_code == 200, 120, "streamlit")
        yield ui_port


def test_ask_a_question_in_the_browser(tmp_path, tiny_bert):
    with serving_home(tmp_path / "home", tiny_bert, news={"source": "synthetic"}), api_and_ui() as ui_port:
        with chat_in_browser(ui_port, "What does the model expect for AAPL this week?") as page:
            page.get_by_text("No language model was used", exact=False).first.wait_for(timeout=120_000)
            page.locator('[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]').first.wait_for(timeout=60_000)
            links = page.locator('a[href^="https://example.invalid/AAPL"]')
            links.first.wait_for(timeout=30_000)
            assert links.count() >= 1
            assert page.get_by_text("model version 1", exact=False).count() >= 1
            assert page.get_by_text("5-session forecast and its 80 % interval", exact=False).count() >= 1
            assert page.get_by_text("Live track record: Version 1, live since 2014-06-02", exact=False).count() >= 1
            assert page.get_by_text("Selection figure", exact=False).count() >= 1
            # the tiny model has FinBERT's head: its sentiment, summed up in the answer and shown per source
            assert page.get_by_text("(FinBERT; not measured).", exact=False).count() >= 1
            assert page.get_by_text("Read as: outlook for AAPL", exact=False).count() >= 1
            answer = page.locator('[data-testid="stChatMessage"]').last.inner_text()
            assert re.search(r"News sentiment: \d of \d headlines (positive|negative|neutral)", answer), answer
            items = page.locator('[data-testid="stChatMessage"]').last.locator("li").all_inner_texts()
            cited = [i for i in items if re.search(r" — \d{4}-\d{2}-\d{2}, ", i)]
            assert cited and all(re.search(r" — sentiment: (positive|negative|neutral)$", i) for i in cited), items
            page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000


def test_headlines_carrying_markup_show_as_written_in_the_browser(tmp_path, tiny_bert):
    """The injection set's headlines, on the lake's latest day so they are the sources:
    the page shows their text; no link, image, script, bold or dialog comes out of them."""
    from stock_assets.news.embedder import TextEmbedder
    from stock_assets.news.vector_store import NewsVectorStore, chroma_client
    from stock_serving.retrieval import is_boilerplate
    from tests.serving.test_injection import INJECTIONS

    # news for MSFT only: the injected headlines are then the only AAPL ones, so the chat cites all
    # of them whatever the approximate nearest-neighbour search returns among thousands of others
    with serving_home(tmp_path / "home", tiny_bert, news={"symbols": ["MSFT"]}) as (_, home):
        store = NewsVectorStore(chroma_client(path=home / "chromadb"))
        shown = INJECTIONS[:5]  # the chat cites 5 sources: these (each has content: none is dropped as boilerplate)
        assert not any(is_boilerplate(h, "AAPL") for h in shown)
        question = "What does the news say about AAPL?"
        vector = TextEmbedder(str(tiny_bert)).embed([question]).vectors[0]
        store.collection.upsert(ids=[f"injection-{i}" for i in range(len(shown))], embeddings=[vector] * len(shown), documents=shown,
                                metadatas=[{"date": "2014-06-30", "day": 20140630, "symbol": "AAPL", "source": "feed",
                                            "url": "javascript:alert(2)"} for _ in shown])
        del store
        with api_and_ui() as ui_port, chat_in_browser(ui_port, question) as page:
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.get_by_text("Sources", exact=True).first.wait_for(timeout=120_000)
            text = page.inner_text("body").replace("\u2060", "")  # the invisible joiner that breaks bare URLs
            for headline in shown:
                assert headline in text, headline  # the text, as written
            assert page.locator('a[href*="evil.example"], a[href^="javascript:"]').count() == 0
            assert page.locator('img[src*="evil.example"], img[src="x"]').count() == 0
            assert page.locator("script").filter(has_text="xss").count() == 0
            assert page.locator("strong, b, em").filter(has_text="URGENT").count() == 0
            page.wait_for_timeout(1000)
            assert dialogs == []
            page.screenshot(path=str(tmp_path / "injection.png"), full_page=True)

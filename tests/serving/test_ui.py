"""The Streamlit UI in a real browser (Debian chromium driven by Playwright) against the running API."""

import os
import shutil
import sys
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import REPO
from tests.serving.test_api import serving_home
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


def test_ask_a_question_in_the_browser(tmp_path, tiny_bert):
    bin_dir = os.path.dirname(sys.executable)
    with serving_home(tmp_path / "home", tiny_bert, news={"source": "synthetic"}):
        api_port, ui_port = free_port(), free_port()
        api = [sys.executable, "-m", "uvicorn", "stock_serving.api:app", "--host", "127.0.0.1", "--port", str(api_port)]
        ui = [os.path.join(bin_dir, "streamlit"), "run", "stock_serving/ui.py", "--server.port", str(ui_port),
              "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        env = {**os.environ, "API_URL": f"http://127.0.0.1:{api_port}"}
        with running(api, cwd=REPO, env=env), running(ui, cwd=REPO, env=env):
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200, 120, "the API")
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health").status_code == 200, 120, "streamlit")
            with chat_in_browser(ui_port, "What does the model expect for AAPL this week?") as page:
                page.get_by_text("No language model was used", exact=False).first.wait_for(timeout=120_000)
                page.locator('[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]').first.wait_for(timeout=60_000)
                links = page.locator('a[href^="https://example.invalid/AAPL"]')
                links.first.wait_for(timeout=30_000)
                assert links.count() >= 1
                assert page.get_by_text("model version 1", exact=False).count() >= 1
                assert page.get_by_text("5-session forecast and its 80 % interval", exact=False).count() >= 1
                assert page.get_by_text("measured skill vs the random walk", exact=False).count() >= 1
                page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000

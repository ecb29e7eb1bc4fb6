"""`make dev`'s server: the Dagster UI serves the code location with its partitioned assets."""

import os
import sys

import httpx
import pytest

from stock_assets.instance import WORKSPACE, dagster_cli_options
from tests.servers import free_port, running, wait_until

QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned
  partitionDefinition { description } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""


SEVEN = ["raw_prices", "raw_news", "news_embeddings", "chroma_collection", "training_windows", "model_checkpoint", "onnx_model"]


def screenshot_asset_graph(url: str, path) -> None:
    """Debian chromium (Playwright) opens the asset graph (lineage of the ingest and training
    groups, with their neighbours) and finds all seven assets on it."""
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.serving.test_ui import CHROMIUM_FLAGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        seen = set()
        for group, expected in (("ingest", ["raw_prices", "chroma_collection"]), ("training", ["onnx_model", "raw_news"])):
            page.goto(f"{url}/locations/stock_assets/asset-groups/{group}/lineage", wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            if skip.count():
                skip.first.click()
            for name in expected:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            seen |= {name for name in SEVEN if page.get_by_text(name, exact=True).count()}
        assert seen == set(SEVEN)
        page.screenshot(path=str(path))
        browser.close()


@pytest.mark.slow
def test_dagster_dev_serves_the_partitioned_assets(tmp_path):
    port = free_port()
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "STOCK_HOME": str(tmp_path)}
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)]
    with running(command, **dagster_cli_options(tmp_path / "dagster", env)):
        def asset_nodes():
            answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10).json()
            return (answer.get("data") or {}).get("assetNodes")

        nodes = wait_until(asset_nodes, timeout=180, what="the Dagster UI")
        screenshot_asset_graph(f"http://127.0.0.1:{port}", tmp_path / "asset-graph.png")
    assert (tmp_path / "asset-graph.png").stat().st_size > 10_000
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    groups = {"raw_prices": "ingest", "raw_news": "ingest", "news_embeddings": "news", "chroma_collection": "news"}
    for key, group in groups.items():
        assert by_key[key]["isPartitioned"] and by_key[key]["groupName"] == group
        assert "Daily" in by_key[key]["partitionDefinition"]["description"]
    checks = {c["name"] for c in by_key["raw_news"]["assetChecksOrError"]["checks"]}
    assert "unique_id" in checks

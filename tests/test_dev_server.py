"""`make dev`'s server: the Dagster UI serves the code location with its partitioned assets."""

import os
import sys

import httpx
import pytest

from tests.conftest import REPO
from tests.servers import free_port, running, wait_until

QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned
  partitionDefinition { description } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""


@pytest.mark.slow
def test_dagster_dev_serves_the_partitioned_assets(tmp_path):
    port = free_port()
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "STOCK_HOME": str(tmp_path)}
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with running(command, cwd=REPO, env=env):
        def asset_nodes():
            answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10).json()
            return (answer.get("data") or {}).get("assetNodes")

        nodes = wait_until(asset_nodes, timeout=180, what="the Dagster UI")
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    groups = {"raw_prices": "ingest", "raw_news": "ingest", "news_embeddings": "news", "chroma_collection": "news"}
    for key, group in groups.items():
        assert by_key[key]["isPartitioned"] and by_key[key]["groupName"] == group
        assert "Daily" in by_key[key]["partitionDefinition"]["description"]
    checks = {c["name"] for c in by_key["raw_news"]["assetChecksOrError"]["checks"]}
    assert "unique_id" in checks

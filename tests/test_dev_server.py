"""`make dev`'s server: the Dagster UI serves the code location with both assets partitioned."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO

QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned
  partitionDefinition { description } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_signals():
    # Background shells start children with SIGINT/SIGTERM ignored; the server must stay stoppable.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.slow
def test_dagster_dev_serves_both_partitioned_assets(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "STOCK_HOME": str(tmp_path)}
    (tmp_path / "dagster").mkdir()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    proc = subprocess.Popen(
        [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=default_signals, start_new_session=True,
    )
    try:
        nodes, deadline = None, time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10).json()
                nodes = answer.get("data", {}).get("assetNodes")
                if nodes:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert nodes, "the Dagster UI did not answer with the asset graph"
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        for key in ("raw_prices", "raw_news"):
            assert by_key[key]["isPartitioned"] and by_key[key]["groupName"] == "ingest"
            assert "Daily" in by_key[key]["partitionDefinition"]["description"]
        checks = {c["name"] for c in by_key["raw_news"]["assetChecksOrError"]["checks"]}
        assert "unique_id" in checks
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

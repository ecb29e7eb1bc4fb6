"""Backfills through a real Dagster instance, launched as the UI launches them: `dagster dev`
(webserver + daemon, the queued run coordinator) and GraphQL launchPartitionBackfill."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx

from stock_assets.instance import WORKSPACE, dagster_cli_options
from stock_assets.processes import free_port, running, wait_until
# N runs at once; pools at 1 unless set (op granularity: a run starts, and its step waits for
# the pool's slot, so the embedding steps overlap while the embedded Chroma takes one writer).
INSTANCE = """telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: {runs}
  pools:
    default_limit: 1
"""
LAUNCH = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
STATUS = """query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } ... on PythonError { message } }
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}"""


def graphql(port: int, query: str, variables: dict) -> dict:
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}, timeout=30).json()
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


@contextmanager
def dagster_dev(env: dict[str, str], max_concurrent_runs: int, pool_limits: dict[str, int]):
    """`dagster dev` on a fresh instance in env["DAGSTER_HOME"]; yields its port."""
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE.format(runs=max_concurrent_runs))
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    for pool, limit in pool_limits.items():
        subprocess.run([dagster, "instance", "concurrency", "set", pool, str(limit)], check=True, capture_output=True, timeout=120,
                       **dagster_cli_options(home, env))
    port = free_port()
    with running([dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)], **dagster_cli_options(home, env)):
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=5).is_success, timeout=180, what="dagster dev")
        yield port


def run_backfill(port: int, assets: list[str], days: list[str], timeout: float) -> tuple[str, list[dict]]:
    """Launch a backfill of `assets` over `days`, wait for it to end; (status, its runs)."""
    params = {"assetSelection": [{"path": [a]} for a in assets], "partitionNames": days}
    launched = wait_until(lambda: (r := graphql(port, LAUNCH, {"params": params})["launchPartitionBackfill"])
                          ["__typename"] == "LaunchBackfillSuccess" and r, timeout=120, what="the backfill launched")

    def finished():
        data = graphql(port, STATUS, {"id": launched["backfillId"]})
        return data["partitionBackfillOrError"]["status"] not in ("REQUESTED", "CANCELING", "FAILING") and data

    data = wait_until(finished, timeout=timeout, what="the backfill finished")
    return data["partitionBackfillOrError"]["status"], data["runsOrError"]["results"]


def peak_concurrency(runs: list[dict]) -> int:
    edges = sorted([(r["startTime"], 1) for r in runs] + [(r["endTime"], -1) for r in runs])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak

"""The project against a Dagster instance on PostgreSQL (k8s/dagster/dagster.yaml: the storage
block and queued run coordinator the Helm values produce), with the platform's shared state in the
same database (STOCK_DATABASE_URL), as on the cluster: a materialization from the CLI, then a
partitioned backfill launched as the UI launches it (GraphQL launchPartitionBackfill), fanned out
by the backfill daemon into runs the queued coordinator launches; read back from PostgreSQL."""

import os
import shutil
import sys
import time

import dagster as dg
import httpx
import psycopg
import pytest

from stock_assets.backfill.graphql import LAUNCH
from stock_assets.instance import WORKSPACE, dagster_cli_options
from tests.conftest import REPLAY_DIR, REPO
from tests.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow
FIRST, LAST = "2014-03-03", "2014-03-12"
STATUS = """query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status numPartitions } }
}"""


def instance_env(tmp_path, postgres, database_url: str, tiny_bert) -> dict:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "k8s" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    return {**os.environ, "DAGSTER_HOME": str(home), "STOCK_HOME": str(tmp_path / "home"),
            "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres.port), "DAGSTER_PG_USERNAME": "stock",
            "DAGSTER_PG_PASSWORD": "trust-auth", "DAGSTER_PG_DB": database_url.rsplit("/", 1)[1],
            "STOCK_DATABASE_URL": database_url, "STOCK_PRICE_SOURCE": "replay", "STOCK_NEWS_SOURCE": "replay",
            "STOCK_REPLAY_DIR": str(REPLAY_DIR), "STOCK_SYMBOLS": "AAPL,MSFT", "STOCK_EMBEDDER": str(tiny_bert),
            "STOCK_EMBED_DAYS_PER_RUN": "5"}


def graphql(port: int, query: str, variables: dict) -> dict:
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}, timeout=30)
    assert answer.status_code == 200, answer.text[-3000:]
    return answer.json()["data"]


def test_materialize_and_a_queued_partitioned_backfill_on_a_postgres_instance(tmp_path, postgres, database_url, tiny_bert,
                                                                              monkeypatch):
    env = instance_env(tmp_path, postgres, database_url, tiny_bert)
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    cli = [dagster, "asset", "materialize", "-m", "stock_assets.definitions", "--select", "raw_prices", "--partition", FIRST]
    import subprocess

    done = subprocess.run(cli, capture_output=True, text=True, timeout=300, **dagster_cli_options(env["DAGSTER_HOME"], env))
    assert done.returncode == 0, done.stderr[-3000:]

    port = free_port()
    with running([dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
                 **dagster_cli_options(env["DAGSTER_HOME"], env)):
        wait_until(lambda: httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ version }"}).json()["data"],
                   180, "the Dagster UI on PostgreSQL")
        params = {"partitionsByAssets": [{"assetKey": {"path": [a]}, "partitions": {"range": {"start": FIRST, "end": LAST}}}
                                         for a in ("raw_news", "news_embeddings")]}
        launched = graphql(port, LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill = launched["backfillId"]
        deadline = time.monotonic() + 600
        while (status := graphql(port, STATUS, {"id": backfill})["partitionBackfillOrError"]["status"]) not in (
                "COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            assert time.monotonic() < deadline, f"backfill {backfill} still {status}"
            time.sleep(2)
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status

    # read back from PostgreSQL, with the same dagster.yaml
    for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, env[key])
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill}))
        assert len(runs) >= 3 and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        # the queued coordinator launched them: every run went through QUEUED
        assert all(instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED).records for run in runs)
        days = [f"2014-03-{d:02d}" for d in range(3, 13)]
        for asset in ("raw_news", "news_embeddings"):
            stored = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert set(days) <= stored, (asset, sorted(set(days) - stored))
        assert FIRST in instance.get_materialized_partitions(dg.AssetKey("raw_prices"))
    with psycopg.connect(database_url) as db:  # the embedding cache shared the instance's database
        assert db.execute("SELECT COUNT(*) FROM stock_embeddings").fetchone()[0] > 0
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(runs) + 1

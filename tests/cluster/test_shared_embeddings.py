"""Drills (a)-(c): "nodes" that share only PostgreSQL (STOCK_DATABASE_URL) and an S3 object store
(STOCK_HOME=s3://..., moto's server over HTTP) backfill news_embeddings over the same days at once.
Each node is a real run process (tests/drills/run_process.py) with a local directory of its own
(STOCK_LOCAL_HOME: its HF cache and Dagster home); none can see another's files."""

import threading
import time

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.cluster.servers import S3_CREDENTIALS
from tests.drills.conftest import finish, finish_all, run_job, start_run

pytestmark = pytest.mark.slow
CHUNK = 40
FIRST, LAST = "2014-04-01", "2014-04-30"


def node_env(tmp_path, name: str, database_url: str, s3_home: str, s3_endpoint: str, lease_s: float = 600) -> dict:
    local = tmp_path / name
    (local / "dagster").mkdir(parents=True)
    return {"STOCK_HOME": s3_home, "STOCK_LOCAL_HOME": local, "DAGSTER_HOME": local / "dagster",
            "STOCK_DATABASE_URL": database_url, "AWS_ENDPOINT_URL": s3_endpoint, "STOCK_CLAIM_LEASE_SECONDS": lease_s,
            **S3_CREDENTIALS}


def job_args(lake: str, tiny_bert) -> dict:
    return {"lake": lake, "model": str(tiny_bert), "symbols": ["AAPL", "MSFT"], "first": FIRST, "last": LAST,
            "chunk": CHUNK}


def stored_vectors(lake) -> pd.DataFrame:
    from stock_assets.lake import read_parquet
    from stock_assets.settings import as_upath

    files = sorted(as_upath(str(lake)).joinpath("news_embeddings").glob("*.parquet"), key=str)
    frame = pd.concat([read_parquet(f) for f in files], ignore_index=True)
    return frame.sort_values("id").reset_index(drop=True)


def cache_state(database_url: str) -> dict:
    with psycopg.connect(database_url) as db:
        return {
            "rows": db.execute("SELECT COUNT(*) FROM stock_embeddings").fetchone()[0],
            "by_owner": dict(db.execute("SELECT embedded_by, COUNT(*) FROM stock_embeddings GROUP BY 1").fetchall()),
            "claims": db.execute("SELECT COUNT(*) FROM stock_embedding_claims").fetchone()[0],
        }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_bert):
    """The same days embedded by one process on one machine (SQLite cache, local lake)."""
    home = tmp_path_factory.mktemp("reference")
    run = run_job("embed", {**job_args(str(home / "lake"), tiny_bert), "cache": str(home / "cache.sqlite")},
                  STOCK_HOME=home)
    assert run.returncode == 0, run.stderr
    return stored_vectors(home / "lake"), run.summary["embedded_now"]


def assert_same_vectors(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert ours["id"].tolist() == theirs["id"].tolist()
    np.testing.assert_allclose(np.stack(ours["embedding"]), np.stack(theirs["embedding"]), rtol=0, atol=1e-5)


def test_two_nodes_backfilling_the_same_days_embed_each_text_once(tmp_path, tiny_bert, database_url, s3_home, s3_endpoint,
                                                                  reference):
    vectors, distinct = reference
    assert distinct > 4 * CHUNK
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    args = job_args(f"{s3_home}/lake", tiny_bert)
    nodes = [start_run("embed", args, barrier=f"{barrier}:2:stock_assets.news.cache_postgres:PostgresEmbeddingCache.claim",
                       **node_env(tmp_path, f"node{i}", database_url, s3_home, s3_endpoint)) for i in range(2)]
    runs = finish_all(nodes)
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    # every text embedded exactly once across the nodes, and both nodes did part of the work
    assert sum(run.summary["embedded_now"] for run in runs) == distinct
    assert all(run.summary["embedded_now"] > 0 for run in runs)
    state = cache_state(database_url)
    assert state["rows"] == distinct and state["claims"] == 0 and len(state["by_owner"]) == 2
    # the lake on the object store holds the vectors one process on one machine computes
    assert_same_vectors(stored_vectors(f"{s3_home}/lake"), vectors)
    # and nothing of it was written to the nodes' local directories
    assert not list((tmp_path / "node0").rglob("*.parquet")) and not list((tmp_path / "node1").rglob("*.parquet"))


def test_a_node_killed_mid_run_leaves_claims_that_lapse_and_the_other_node_finishes(tmp_path, tiny_bert, database_url,
                                                                                    s3_home, s3_endpoint, reference):
    vectors, distinct = reference
    args = job_args(f"{s3_home}/lake", tiny_bert)
    lease = 6.0
    # node0 dies as its node fails: its 2nd chunk claimed and embedded, never cached
    killed = start_run("embed", args, kill="stock_assets.news.cache_postgres:PostgresEmbeddingCache.put:before:2",
                       **node_env(tmp_path, "node0", database_url, s3_home, s3_endpoint, lease))
    assert finish(killed).killed
    state = cache_state(database_url)
    assert state["rows"] == CHUNK
    with psycopg.connect(database_url) as db:
        held = db.execute("SELECT text_hash, lease_until FROM stock_embedding_claims WHERE owner IS NOT NULL").fetchall()
    assert len(held) == CHUNK  # the dead node's claim, live until its lease lapses
    survivor = run_job("embed", args, **node_env(tmp_path, "node1", database_url, s3_home, s3_endpoint, lease))
    assert survivor.returncode == 0, survivor.stderr
    assert survivor.summary["embedded_now"] == distinct - CHUNK  # the dead node's claimed chunk too, once it lapsed
    with psycopg.connect(database_url) as db:  # taken over only once the lease had lapsed, never from a live claim
        late = db.execute("SELECT bool_and(e.embedded_at >= %s) FROM stock_embeddings e WHERE e.text_hash = ANY(%s)",
                          (max(lease for _, lease in held), [h for h, _ in held])).fetchone()[0]
    assert late is True
    state = cache_state(database_url)
    assert state["rows"] == distinct and state["claims"] == 0
    assert_same_vectors(stored_vectors(f"{s3_home}/lake"), vectors)


def test_postgres_restarted_mid_run_the_nodes_retry_and_finish_with_nothing_lost_or_duplicated(
        tmp_path, tiny_bert, postgres, database_url, s3_home, s3_endpoint, reference):
    vectors, distinct = reference
    args = job_args(f"{s3_home}/lake", tiny_bert)
    nodes = [start_run("embed", args, **node_env(tmp_path, f"node{i}", database_url, s3_home, s3_endpoint))
             for i in range(2)]
    restarted = threading.Event()

    def restart_when_work_is_under_way():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(database_url) as db:
                    if db.execute("SELECT COUNT(*) FROM stock_embeddings").fetchone()[0] > 0:
                        break
            except psycopg.Error:
                pass  # the tables are not made yet
            time.sleep(0.05)
        postgres.stop()  # every connection cut, mid-run
        time.sleep(3)
        postgres.start()
        restarted.set()

    restarter = threading.Thread(target=restart_when_work_is_under_way)
    restarter.start()
    runs = finish_all(nodes)
    restarter.join()
    assert restarted.is_set()
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert sum(run.summary["embedded_now"] for run in runs) == distinct
    state = cache_state(database_url)
    assert state["rows"] == distinct and state["claims"] == 0
    assert_same_vectors(stored_vectors(f"{s3_home}/lake"), vectors)

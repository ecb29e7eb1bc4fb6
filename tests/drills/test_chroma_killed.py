"""Drill 2: chroma_collection killed mid-upsert (SIGKILL of the run process inside Chroma's upsert
call), with the embedded store and with a Chroma server: the re-run converges."""

import os
import sys
from collections import Counter

import httpx
import pandas as pd
import pytest

from stock_assets.news.vector_store import NewsVectorStore, chroma_client
from tests.drills.conftest import run_job
from tests.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow
UPSERT = "chromadb.api.models.Collection:Collection.upsert"
BATCH = 100


def lake_rows(lake) -> pd.DataFrame:
    files = sorted((lake / "news_embeddings").glob("*.parquet"))
    frame = pd.concat([pd.read_parquet(f, columns=["id", "date"]) for f in files], ignore_index=True)
    return frame.assign(day=pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))


def all_ids(store: NewsVectorStore) -> list[str]:
    ids, page = [], 1000
    while True:
        got = store.collection.get(include=[], limit=page, offset=len(ids))["ids"]
        ids += got
        if len(got) < page:
            return ids


def drill(tmp_path, tiny_bert, chroma: dict, open_store):
    args = {"lake": str(tmp_path / "lake"), "cache": str(tmp_path / "embeddings.sqlite"), "model": str(tiny_bert),
            "symbols": ["AAPL", "MSFT"], "first": "2014-04-01", "last": "2014-04-30", "chroma": {**chroma, "batch_size": BATCH}}
    embedded = run_job("embed", args, STOCK_HOME=tmp_path)
    assert embedded.returncode == 0, embedded.stderr
    first = run_job("index", args, STOCK_HOME=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = lake_rows(tmp_path / "lake")
    assert len(rows) > 3 * BATCH

    # a record of one of the days that the lake no longer has: the re-run must delete it
    store = open_store()
    store.collection.upsert(ids=["stale-record"], embeddings=[[0.1] * store_dim(store)], documents=["gone"],
                            metadatas=[{"date": "2014-04-15", "day": 20140415, "symbol": "AAPL", "source": "", "url": ""}])
    del store

    for kill in (f"{UPSERT}:during:1:5", f"{UPSERT}:during:3:20", f"{UPSERT}:after:2"):
        killed = run_job("index", args, kill=kill, STOCK_HOME=tmp_path)
        assert killed.killed, (kill, killed.stderr)

    rerun = run_job("index", args, STOCK_HOME=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    store = open_store()
    ids = all_ids(store)
    assert not [i for i, n in Counter(ids).items() if n > 1]  # no duplicate ids
    assert set(ids) == set(rows["id"])  # nothing missing, no stale id
    days = sorted(rows["day"].unique())
    assert store.count_by_day(days) == rows["day"].value_counts().to_dict()  # per day: Chroma = news_embeddings


def store_dim(store: NewsVectorStore) -> int:
    return len(store.collection.get(limit=1, include=["embeddings"])["embeddings"][0])


def test_embedded_chroma_killed_mid_upsert_converges_on_rerun(tmp_path, tiny_bert):
    path = tmp_path / "chromadb"
    drill(tmp_path, tiny_bert, {"path": str(path)}, lambda: NewsVectorStore(chroma_client(path=path)))


def test_chroma_server_client_killed_mid_upsert_converges_on_rerun(tmp_path, tiny_bert):
    port = free_port()
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    with running([chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)]):
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).is_success, what="chroma")
        drill(tmp_path, tiny_bert, {"host": "127.0.0.1", "port": port},
              lambda: NewsVectorStore(chroma_client(host="127.0.0.1", port=port)))

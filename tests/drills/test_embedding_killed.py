"""Drill 1: news_embeddings killed mid-run (SIGKILL of the run process between two cached chunks,
and again with a chunk claimed but not finished)."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from tests.drills.conftest import run_job

pytestmark = pytest.mark.slow
CHUNK = 60


def job_args(tmp_path, name: str, tiny_bert) -> dict:
    return {"lake": str(tmp_path / name / "lake"), "cache": str(tmp_path / name / "embeddings.sqlite"), "model": str(tiny_bert),
            "symbols": ["AAPL", "MSFT"], "first": "2014-04-01", "last": "2014-04-30", "chunk": CHUNK}


def stored_vectors(lake) -> pd.DataFrame:
    files = sorted((lake / "news_embeddings").glob("*.parquet"))
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return frame.sort_values("id").reset_index(drop=True)


def cached_rows(path) -> int:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def test_a_killed_embedding_run_keeps_its_finished_chunks_and_the_rerun_embeds_only_the_rest(tmp_path, tiny_bert):
    reference = run_job("embed", job_args(tmp_path, "reference", tiny_bert), STOCK_HOME=tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    distinct = reference.summary["embedded_now"]
    assert distinct > 4 * CHUNK

    args = job_args(tmp_path, "drill", tiny_bert)
    lake, cache = tmp_path / "drill" / "lake", tmp_path / "drill" / "embeddings.sqlite"
    # killed after its 2nd chunk is cached, then (second run) just before its 2nd chunk is cached:
    # the 2nd kill leaves a chunk claimed by a dead process
    killed = run_job("embed", args, kill="stock_assets.news.cache:EmbeddingCache.put:after:2", STOCK_HOME=tmp_path / "drill")
    assert killed.killed, killed.stderr
    assert cached_rows(cache) == 2 * CHUNK  # readable, holding exactly the finished chunks
    assert not (lake / "news_embeddings").exists()  # nothing half-written in the lake
    assert all(not p.name.startswith(".") for p in lake.rglob("*"))  # no temp file left visible either

    again = run_job("embed", args, kill="stock_assets.news.cache:EmbeddingCache.put:before:2", STOCK_HOME=tmp_path / "drill")
    assert again.killed, again.stderr
    assert cached_rows(cache) == 3 * CHUNK
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == CHUNK  # the dead run's claim

    rerun = run_job("embed", args, STOCK_HOME=tmp_path / "drill")
    assert rerun.returncode == 0, rerun.stderr
    # only what was not cached: the dead run's claim was taken over at once, not after its lease
    assert rerun.summary["embedded_now"] == distinct - 3 * CHUNK
    assert rerun.summary["reused"] == 3 * CHUNK
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    ours, theirs = stored_vectors(lake), stored_vectors(tmp_path / "reference" / "lake")
    assert ours["id"].tolist() == theirs["id"].tolist()
    # the same vectors as an uninterrupted run (same chunks, same batches)
    np.testing.assert_allclose(np.stack(ours["embedding"]), np.stack(theirs["embedding"]), rtol=0, atol=1e-6)

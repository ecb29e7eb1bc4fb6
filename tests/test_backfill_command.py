"""`make backfill` from a shell, with no Dagster webserver running: it starts the instance's
webserver and daemon for the duration, launches the backfill as the UI does, follows it with a
progress line, and exits 0; a backfill whose runs fail exits 1 and names the failed run."""

import os
import subprocess

import chromadb
import pytest
from chromadb.config import Settings

from stock_assets.processes import free_port
from tests.conftest import REPLAY_DIR, REPO

pytestmark = pytest.mark.slow
JANUARY = [f"2014-01-{d:02d}" for d in range(1, 32)]


def shell_env(tmp_path, tiny_bert, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCK_", "DAGSTER_"))}
    return {**env, "STOCK_HOME": str(tmp_path / "home"), "STOCK_PRICE_SOURCE": "replay", "STOCK_NEWS_SOURCE": "replay",
            "STOCK_REPLAY_DIR": str(REPLAY_DIR), "STOCK_SYMBOLS": "AAPL,MSFT", "STOCK_START_DATE": "2014-01-01",
            "STOCK_EMBEDDER": str(tiny_bert), "STOCK_EMBED_DAYS_PER_RUN": "16", "STOCK_ENV_FILE": os.devnull,
            "DEV_PORT": str(free_port()), **extra}


def make_backfill(env: dict, assets: str, first: str, last: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "backfill", f"ASSETS={assets}", f"FROM={first}", f"TO={last}",
                           f"DEV_PORT={env['DEV_PORT']}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)


def test_a_month_of_news_embeddings_and_chroma_from_the_shell(tmp_path, tiny_bert):
    env = shell_env(tmp_path, tiny_bert)
    done = make_backfill(env, "raw_news,news_embeddings,chroma_collection", JANUARY[0], JANUARY[-1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "starting one and the daemon" in out  # no webserver was up: it brought its own
    assert "partitions 93/93 materialized, 0 failed (raw_news 31/31, news_embeddings 31/31, chroma_collection 31/31)" in out, out
    assert "runs " in out and "failed, " in out and "completed: 93/93 partitions" in out
    lake = tmp_path / "home" / "lake"
    for asset in ("raw_news", "news_embeddings"):
        assert sorted(p.stem for p in (lake / asset).glob("*.parquet")) == JANUARY, asset
    client = chromadb.PersistentClient(str(tmp_path / "home" / "chromadb"), Settings(anonymized_telemetry=False))
    stored = client.get_collection("stock_news", embedding_function=None).get(include=["metadatas"])
    days = {m["date"] for m in stored["metadatas"]}
    assert len(stored["ids"]) > 100 and days <= set(JANUARY) and len(days) > 15
    # the servers it started are gone: the next backfill starts its own again. This one fails:
    # news_embeddings alone on days whose raw_news was never materialized (its input cannot load)
    failed = make_backfill(env, "news_embeddings", "2014-02-03", "2014-02-04")
    assert "starting one and the daemon" in failed.stdout, failed.stdout[-2000:]
    # the command's exit status 1 (make reports it as "Error 1" and exits 2), naming the failed run
    assert failed.returncode != 0 and "backfill] Error 1" in failed.stderr, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "failed run " in failed.stderr and "news_embeddings; 2014-02-03...2014-02-04" in failed.stderr, failed.stderr[-3000:]
    assert "/runs/" in failed.stderr


def test_bad_arguments_are_refused_before_anything_starts(tmp_path, tiny_bert):
    env = shell_env(tmp_path, tiny_bert)
    missing = subprocess.run(["make", "--no-print-directory", "backfill", "ASSETS=raw_news"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "usage: make backfill ASSETS=a,b FROM=YYYY-MM-DD TO=YYYY-MM-DD" in missing.stderr
    reversed_range = make_backfill(env, "raw_news", "2014-02-04", "2014-02-01")
    assert reversed_range.returncode != 0 and "--from 2014-02-04 is after --to 2014-02-01" in reversed_range.stderr
    bad_day = make_backfill(env, "raw_news", "2014-02-30", "2014-03-01")
    assert bad_day.returncode != 0 and "not a day (YYYY-MM-DD): '2014-02-30'" in bad_day.stderr

"""A backfill of news_embeddings fanned out over runs, through a real Dagster instance: `dagster
dev` (webserver + daemon, queued run coordinator, 2 runs at a time, the `embedding` pool at 2),
launched the way the UI launches it (GraphQL launchPartitionBackfill). 20 days at 5 days per run
make 4 runs; their vectors are those of one single-run materialization of the same days (same ids;
values within the int8 embedder's batch-dependent rounding)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.news.assets import news_embeddings
from stock_assets.news.resources import EmbedderResource
from tests.backfills import dagster_dev, peak_concurrency, run_backfill
from tests.conftest import REPO, lake_resources, materialize_range

pytestmark = pytest.mark.slow
SYMBOLS = ["AAPL", "MSFT"]
DAYS = [d.strftime("%Y-%m-%d") for d in pd.date_range("2014-03-01", periods=20)]


def vectors(lake) -> pd.DataFrame:
    frames = [pd.read_parquet(f) for f in sorted((lake / "news_embeddings").rglob("*.parquet"))]
    return pd.concat(frames).sort_values("id").reset_index(drop=True)


def test_a_20_day_backfill_runs_as_4_runs_2_at_a_time_with_the_single_run_vectors(tmp_path, tiny_bert):
    home, single = tmp_path / "home", tmp_path / "single"
    for root in (home, single):
        resources = lake_resources(root / "lake", price={"symbols": SYMBOLS}, news={"symbols": SYMBOLS})
        resources["embedder"] = EmbedderResource(model=str(tiny_bert), cache_path=str(root / "cache" / "embeddings.sqlite"))
        upstream = [raw_prices, raw_news, news_embeddings] if root == single else [raw_prices, raw_news]
        assert materialize_range(upstream, resources, DAYS[0], DAYS[-1]).success

    env = {**os.environ, "DAGSTER_HOME": str(home / "dagster"), "STOCK_HOME": str(home), "STOCK_SYMBOLS": ",".join(SYMBOLS),
           "STOCK_PRICE_SOURCE": "replay", "STOCK_NEWS_SOURCE": "replay", "STOCK_REPLAY_DIR": str(REPO.parent / "shared" / "data" / "replay"),
           "STOCK_EMBEDDER": str(tiny_bert), "STOCK_EMBED_DAYS_PER_RUN": "5"}
    with dagster_dev(env, max_concurrent_runs=2, pool_limits={"embedding": 2}) as port:
        status, runs = run_backfill(port, ["news_embeddings"], DAYS, timeout=900)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (status, runs)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"SUCCESS"}
    starts = sorted(next(t["value"] for t in r["tags"] if t["key"] == "dagster/asset_partition_range_start") for r in runs)
    assert starts == DAYS[::5]
    assert peak_concurrency(runs) == 2, [(r["startTime"], r["endTime"]) for r in runs]

    fanned_out, one_run = vectors(home / "lake"), vectors(single / "lake")
    assert fanned_out["id"].tolist() == one_run["id"].tolist() and len(one_run) > 50
    # The same vectors up to the embedder's int8 path, whose dynamic quantization scales follow the
    # batch a text is in (another run split, other batches; concurrent runs claim texts in either
    # order): far inside its 0.999 cosine guard, a few parts in a thousand of each vector's length.
    a, b = np.stack(fanned_out["embedding"]), np.stack(one_run["embedding"])
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    relative = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.9999 and relative.max() < 5e-3, (cosine.min(), relative.max())

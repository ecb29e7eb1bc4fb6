"""Runs embedding at once share the embedding cache: two news_embeddings materializations of the
same days, in two processes started together, embed every distinct text exactly once between them
(claims), and both write the same vectors; a dead run's claims lapse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from stock_assets.news.cache import EmbeddingCache
from tests.conftest import REPO

pytestmark = pytest.mark.slow
RUN = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {repo!r})
import stock_assets.news.assets as news
from stock_assets.ingest.assets import raw_news
from stock_assets.news.resources import EmbedderResource
from tests.conftest import lake_resources, materialize_range
from stock_assets.news.embedder import TextEmbedder
embed = TextEmbedder.embed
def slower(self, texts):  # FinBERT's pace, not the tiny model's: both runs overlap
    time.sleep(0.2)
    return embed(self, texts)
TextEmbedder.embed = slower
resources = lake_resources({lake!r}, news={{"symbols": ["AAPL", "MSFT", "GOOG"]}})
resources["embedder"] = EmbedderResource(model={model!r}, cache_path={cache!r}, cache_chunk=40)  # small chunks: the runs interleave
result = materialize_range([raw_news, news.news_embeddings], resources, "2014-04-01", "2014-04-30")
events = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["news_embeddings"]]
print(json.dumps({{"embedded": events[0].materialization.metadata["embedded_now"].value}}))  # one output for the range
"""


def test_two_runs_at_once_embed_each_text_once_between_them(tmp_path, tiny_bert):
    cache = tmp_path / "cache" / "embeddings.sqlite"
    env = {**os.environ, "STOCK_HOME": str(tmp_path)}
    runs = [
        subprocess.Popen([sys.executable, "-c", RUN.format(repo=str(REPO), lake=str(tmp_path / f"lake{i}"), model=str(tiny_bert), cache=str(cache))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        for i in (0, 1)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-3000:] for _, err in outputs]
    embedded = [json.loads(out.strip().splitlines()[-1])["embedded"] for out, _ in outputs]

    frames = [pd.concat(pd.read_parquet(f) for f in sorted((tmp_path / f"lake{i}" / "news_embeddings").rglob("*.parquet")))
              .sort_values("id").reset_index(drop=True) for i in (0, 1)]
    distinct = len(set(pd.concat(pd.read_parquet(f) for f in (tmp_path / "lake0" / "raw_news").rglob("*.parquet"))["headline"]))
    assert sum(embedded) == distinct > 100, embedded  # each text embedded by exactly one of the two
    assert min(embedded) > 0  # both did part of the work
    assert frames[0]["id"].tolist() == frames[1]["id"].tolist()
    assert np.array_equal(np.stack(frames[0]["embedding"]), np.stack(frames[1]["embedding"]))


def test_claims_of_a_dead_run_lapse(tmp_path):
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    assert cache.claim("m", ["a", "b"], owner="dead", lease_s=0.2) == ["a", "b"]
    assert cache.claim("m", ["a", "b", "c"], owner="alive", lease_s=60) == ["c"]  # a, b: still claimed
    cache.put("m", ["c"], np.ones((1, 4), np.float32), None)
    time.sleep(0.3)
    assert cache.claim("m", ["a", "b", "c"], owner="alive", lease_s=60) == ["a", "b"]  # lapsed; c is cached

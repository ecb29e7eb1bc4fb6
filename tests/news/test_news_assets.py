"""news_embeddings + chroma_collection materialized for real on replay data, with a tiny BERT
loaded through from_pretrained and an embedded ChromaDB."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_news
from stock_assets.news.assets import chroma_collection, news_embeddings
from stock_assets.news.columns import embedding_matrix
from stock_assets.news.resources import ChromaResource, EmbedderResource
from tests.conftest import lake_resources, materialize_range

FIRST, LAST = "2014-01-01", "2014-01-14"
ASSETS = [raw_news, news_embeddings, chroma_collection]


def news_resources(root, model, replay_dir=None):
    resources = lake_resources(root / "lake", news={"replay_dir": str(replay_dir)} if replay_dir else {})
    resources["embedder"] = EmbedderResource(model=str(model), cache_path=str(root / "cache.sqlite"))
    resources["chroma"] = ChromaResource(path=str(root / "chroma"))
    return resources


def stored(root, asset):
    frames = [pd.read_parquet(p) for p in sorted((root / "lake" / asset).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def metadata_of(result, asset):
    event = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [asset]][0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_bert, replay_dir):
    root = tmp_path_factory.mktemp("news")
    result = materialize_range(ASSETS, news_resources(root, tiny_bert), FIRST, LAST)
    assert result.success
    return root, result


def test_collection_holds_exactly_the_deduped_headlines(indexed):
    root, result = indexed
    news = stored(root, "raw_news")
    embeddings = stored(root, "news_embeddings")
    assert sorted(embeddings["id"]) == sorted(news["id"]) and len(news) > 300
    vectors = embedding_matrix(embeddings["embedding"])
    assert vectors.shape == (len(news), 32) and vectors.dtype == np.float32
    probs = embeddings[["sentiment_positive", "sentiment_negative", "sentiment_neutral"]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    meta = metadata_of(result, "news_embeddings")
    distinct = news["headline"].nunique()
    assert meta["embedded_now"] == distinct < len(news)  # retweets: identical texts embedded once
    assert meta["dim"] == 32 and meta["dtype"] == "float32" and "tiny-finbert@" in meta["model"]
    store = ChromaResource(path=str(root / "chroma")).store()
    got = store.collection.get(ids=news["id"].tolist()[:50], include=["documents", "metadatas"])
    by_id = news.set_index("id")
    for rid, doc, md in zip(got["ids"], got["documents"], got["metadatas"]):
        row = by_id.loc[rid]
        assert doc == row["headline"]
        assert md["date"] == row["date"].strftime("%Y-%m-%d") and md["symbol"] == row["symbol"]
        assert md["source"] == "stocknet-twitter" and md["url"] == ""
        assert md["sentiment"] in ("positive", "negative", "neutral")
    assert store.collection.count() == len(news)
    assert all(c.passed for c in result.get_asset_check_evaluations())


def test_own_vector_returns_itself_first_and_date_filter(indexed):
    root, _ = indexed
    embeddings = stored(root, "news_embeddings").reset_index(drop=True)
    news = stored(root, "raw_news").set_index("id")
    store = ChromaResource(path=str(root / "chroma")).store()
    vectors = embedding_matrix(embeddings["embedding"])
    # A random tiny BERT puts many headlines close together: pick the one farthest from any
    # other text, so "itself first" is a property of the index and not of float ties.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = news.loc[embeddings["id"], "headline"].to_numpy()
    similarity = unit @ unit.T
    similarity[texts[:, None] == texts[None, :]] = -1
    pick = int(similarity.max(axis=1).argmin())
    row, vector = embeddings.iloc[pick], vectors[pick]
    hit = store.query(vector, k=3)
    same_text = set(news.index[news["headline"] == news.loc[row["id"], "headline"]])
    assert hit["ids"][0][0] in same_text and hit["distances"][0][0] < 1e-5
    day = "2014-01-07"
    only_day = store.query(vector, k=20, where={"date": day})  # the seed's query example
    assert only_day["ids"][0] and all(m["date"] == day for m in only_day["metadatas"][0])


def test_rematerializing_embeds_nothing_and_changed_news_drops_ids(indexed, tiny_bert, replay_dir, tmp_path):
    root, _ = indexed
    store = ChromaResource(path=str(root / "chroma")).store()
    before = store.collection.get(include=["embeddings"])
    again = dg.materialize(ASSETS, resources=news_resources(root, tiny_bert), partition_key="2014-01-07")
    assert metadata_of(again, "news_embeddings")["embedded_now"] == 0
    after = store.collection.get(include=["embeddings"])
    assert sorted(after["ids"]) == sorted(before["ids"])
    order = np.argsort(before["ids"]), np.argsort(after["ids"])
    assert np.allclose(np.asarray(before["embeddings"])[order[0]], np.asarray(after["embeddings"])[order[1]])

    # The day's news changes upstream: half of AAPL's items disappear.
    edited = tmp_path / "replay"
    (edited / "news").mkdir(parents=True)
    (edited / "prices").symlink_to(replay_dir / "prices")
    for path in (replay_dir / "news").glob("*.jsonl"):
        items = [json.loads(line) for line in path.read_text().splitlines()]
        day_items = [
            i for i in items
            if pd.Timestamp(i["datetime"], unit="s", tz="UTC").tz_convert("America/New_York").strftime("%Y-%m-%d") == "2014-01-07"
        ]
        dropped = {i["id"] for i in day_items[::2]} if path.stem == "AAPL" else set()
        (edited / "news" / path.name).write_text("\n".join(json.dumps(i) for i in items if i["id"] not in dropped) + "\n")
    result = dg.materialize(ASSETS, resources=news_resources(root, tiny_bert, edited), partition_key="2014-01-07")
    assert result.success
    meta = metadata_of(result, "chroma_collection")
    lake_day = pd.read_parquet(root / "lake" / "news_embeddings" / "2014-01-07.parquet")
    assert meta["deleted_stale"] > 0
    chroma_day = store.ids_for_days(["2014-01-07"])
    assert chroma_day == set(lake_day["id"])
    assert store.collection.count() == len(before["ids"]) - meta["deleted_stale"]

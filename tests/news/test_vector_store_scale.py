"""The news collection at the size of a whole replay backfill (730 days, 73,000 records): every
read is bounded (a single get() of it fails inside Chroma with "too many SQL variables")."""

from datetime import date, timedelta

import numpy as np
import pytest

from stock_assets.news.vector_store import NewsVectorStore, chroma_client

pytestmark = pytest.mark.slow
DAYS = [str(date(2014, 1, 1) + timedelta(days=d)) for d in range(730)]
PER_DAY = 100


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = NewsVectorStore(chroma_client(path=tmp_path_factory.mktemp("chroma")))
    ids = [f"{day}-{i}" for day in DAYS for i in range(PER_DAY)]
    vectors = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    metadatas = [{"date": day, "symbol": "AAPL"} for day in DAYS for _ in range(PER_DAY)]
    for i in range(0, len(ids), store.batch_size):
        part = slice(i, i + store.batch_size)
        store.collection.upsert(ids=ids[part], embeddings=vectors[part], metadatas=metadatas[part], documents=ids[part])
    assert store.collection.count() == len(DAYS) * PER_DAY
    return store


def test_an_unbounded_read_of_this_collection_fails_inside_chroma(store):
    # Why the store pages: this is the call chroma_collection made before (issue #16).
    with pytest.raises(Exception, match="too many SQL variables"):
        store.collection.get(where={"date": {"$in": DAYS}}, include=["metadatas"])


def test_counts_and_ids_over_two_years_of_days(store):
    assert store.count_by_day(DAYS) == dict.fromkeys(DAYS, PER_DAY)
    assert len(store.ids_for_days(DAYS)) == len(DAYS) * PER_DAY


def test_replacing_two_years_of_days_deletes_exactly_the_stale_ids(store):
    keep = [f"{day}-{i}" for day in DAYS for i in range(PER_DAY) if not (day == DAYS[400] and i >= 60)]
    vectors = np.random.default_rng(1).normal(size=(len(keep), 8)).astype(np.float32)
    metadatas = [{"date": rid[:10], "symbol": "AAPL"} for rid in keep]
    upserted, deleted = store.replace_days(DAYS, keep, vectors, keep, metadatas)
    assert (upserted, deleted) == (len(keep), 40)
    counts = store.count_by_day(DAYS)
    assert counts[DAYS[400]] == 60 and sum(counts.values()) == len(keep)

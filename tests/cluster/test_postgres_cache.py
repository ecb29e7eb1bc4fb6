"""The PostgreSQL embedding cache's claims on a real server: exclusive under concurrency (SKIP
LOCKED), leases that lapse, a clean failure's release, and idempotent caching."""

import threading

import numpy as np

from stock_assets.news.cache_postgres import PostgresEmbeddingCache

MODEL = "tiny@abc"


def vectors(n: int, value: float = 1.0) -> np.ndarray:
    return np.full((n, 4), value, np.float32)


def test_eight_claimers_at_once_split_the_texts_without_overlap(database_url):
    cache = PostgresEmbeddingCache(database_url)
    texts = [f"h{i:04d}" for i in range(2000)]
    got: dict[int, list[str]] = {}
    barrier = threading.Barrier(8)

    def claimer(worker: int) -> None:
        barrier.wait()
        got[worker] = [h for i in range(0, len(texts), 250) for h in cache.claim(MODEL, texts[i : i + 250], f"w{worker}", 600)]

    threads = [threading.Thread(target=claimer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [h for hashes in got.values() for h in hashes]
    assert sorted(claimed) == texts  # every text claimed, by exactly one worker


def test_a_live_claim_is_left_alone_a_lapsed_one_is_taken_and_cached_texts_are_never_claimed(database_url):
    cache = PostgresEmbeddingCache(database_url)
    assert cache.claim(MODEL, ["a", "b", "c"], "dead-node", lease_s=0.05) == ["a", "b", "c"]
    assert cache.claim(MODEL, ["a"], "dead-node", lease_s=600) == ["a"]  # an owner may renew its own claim
    import time

    time.sleep(0.2)
    assert cache.claim(MODEL, ["a", "b", "c", "d"], "survivor", 600) == ["b", "c", "d"]  # b, c lapsed; a renewed
    cache.put(MODEL, ["b", "c"], vectors(2), None, owner="survivor")
    cache.put(MODEL, ["b"], vectors(1, 9.0), None, owner="late")  # a repeat changes nothing
    assert cache.claim(MODEL, ["b", "c"], "third", 600) == []
    np.testing.assert_array_equal(cache.get(MODEL, ["b"])["b"][0], vectors(1)[0])
    cache.release(MODEL, "survivor")  # d: the survivor failed cleanly before caching it
    assert cache.claim(MODEL, ["d"], "third", 600) == ["d"]
    assert cache.claim("other-model", ["b"], "third", 600) == ["b"]  # keyed by model id too

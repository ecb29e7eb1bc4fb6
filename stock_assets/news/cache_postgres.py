"""The embedding cache on PostgreSQL (STOCK_DATABASE_URL): one index, one set of claims and the
vectors, shared by embedding runs on any number of machines.

Claims follow the usual work-claiming pattern: a text to embed gets a row in the claims table;
a run takes the rows that are free (no owner, or a lapsed lease) with `SELECT ... FOR UPDATE
SKIP LOCKED`, so two runs claiming at once never get the same text and never wait on each
other. A run that dies (its pod or node gone) holds its claims only until the lease lapses.
Vectors live in the same database (bytea): caching a chunk and releasing its claims is one
transaction, so there is never a vector without its index row or a claim outliving its vector.
Same interface as the SQLite cache (stock_assets.news.cache.EmbeddingCache).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stock_assets.postgres import create_once, in_transaction

TABLES = [
    """CREATE TABLE IF NOT EXISTS stock_embeddings (
        model TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        vector BYTEA NOT NULL,
        sentiment BYTEA,
        embedded_by TEXT NOT NULL,
        embedded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (model, text_hash))""",
    """CREATE TABLE IF NOT EXISTS stock_embedding_claims (
        model TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        owner TEXT,
        lease_until TIMESTAMPTZ,
        PRIMARY KEY (model, text_hash))""",
]
ENQUEUE = """
INSERT INTO stock_embedding_claims (model, text_hash)
SELECT %(model)s, h FROM unnest(%(hashes)s::text[]) AS h
WHERE NOT EXISTS (SELECT 1 FROM stock_embeddings e WHERE e.model = %(model)s AND e.text_hash = h)
ORDER BY h
ON CONFLICT DO NOTHING
"""
TAKE = """
UPDATE stock_embedding_claims AS c
SET owner = %(owner)s, lease_until = now() + make_interval(secs => %(lease)s)
FROM (
    SELECT model, text_hash FROM stock_embedding_claims
    WHERE model = %(model)s AND text_hash = ANY(%(hashes)s)
      AND (owner IS NULL OR owner = %(owner)s OR lease_until < now())
      AND NOT EXISTS (SELECT 1 FROM stock_embeddings e
                      WHERE e.model = stock_embedding_claims.model AND e.text_hash = stock_embedding_claims.text_hash)
    ORDER BY text_hash
    FOR UPDATE SKIP LOCKED
) AS free
WHERE c.model = free.model AND c.text_hash = free.text_hash
RETURNING c.text_hash
"""
# An enqueue that raced a run caching the same text (its snapshot predates that commit) leaves
# an unowned claim for a cached text: TAKE skips it, and this removes it.
TIDY = """
DELETE FROM stock_embedding_claims AS c
WHERE c.model = %(model)s AND c.text_hash = ANY(%(hashes)s) AND c.owner IS NULL
  AND EXISTS (SELECT 1 FROM stock_embeddings e WHERE e.model = c.model AND e.text_hash = c.text_hash)
"""


class PostgresEmbeddingCache:
    def __init__(self, url: str):
        self.url = url
        in_transaction(url, lambda db: create_once(db, "stock_embedding_cache", TABLES))

    def get(self, model: str, hashes: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}

        def read(db):
            rows = db.execute("SELECT text_hash, vector, sentiment FROM stock_embeddings "
                              "WHERE model = %s AND text_hash = ANY(%s)", (model, wanted)).fetchall()
            return {h: (np.frombuffer(v, dtype=np.float32), None if s is None else np.frombuffer(s, dtype=np.float32))
                    for h, v, s in rows}

        return in_transaction(self.url, read)

    def put(self, model: str, hashes: list[str], vectors: np.ndarray, sentiment: np.ndarray | None,
            owner: str = "") -> None:
        rows = [(model, h, np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
                 None if sentiment is None else np.ascontiguousarray(sentiment[i], dtype=np.float32).tobytes(), owner)
                for i, h in enumerate(hashes)]

        def write(db):  # vectors in, claims out, in one transaction; a repeat changes nothing
            with db.cursor() as cursor:
                cursor.executemany("INSERT INTO stock_embeddings (model, text_hash, vector, sentiment, embedded_by) "
                                   "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
            db.execute("DELETE FROM stock_embedding_claims WHERE model = %s AND text_hash = ANY(%s)", (model, list(hashes)))

        in_transaction(self.url, write)

    def claim(self, model: str, hashes: list[str], owner: str, lease_s: float) -> list[str]:
        """Claim those of `hashes` that are neither cached nor claimed by another run whose lease
        is live; returns them. Safe to repeat: a retried claim finds its own rows again."""
        wanted = sorted(set(hashes))  # one lock order for every run: concurrent enqueues never deadlock
        if not wanted:
            return []

        def take(db):
            params = {"model": model, "hashes": wanted, "owner": owner, "lease": float(lease_s)}
            db.execute(ENQUEUE, params)
            taken = {h for (h,) in db.execute(TAKE, params).fetchall()}
            db.execute(TIDY, params)
            return taken

        mine = in_transaction(self.url, take)
        return [h for h in dict.fromkeys(hashes) if h in mine]

    def release(self, model: str, owner: str) -> None:
        """Give back what `owner` claimed and did not cache (a run that fails cleanly)."""
        in_transaction(self.url, lambda db: db.execute(
            "UPDATE stock_embedding_claims SET owner = NULL, lease_until = NULL WHERE model = %s AND owner = %s",
            (model, owner)))

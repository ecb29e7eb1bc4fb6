"""Embedding cache keyed by (model id, text hash): no headline is embedded twice.

`embedding_cache()` picks the store: PostgreSQL when STOCK_DATABASE_URL is set (runs on several
machines: stock_assets.news.cache_postgres), else this SQLite file (one machine: SQLite's
locking is not for network file systems). A SQLite file next to the lake (STOCK_HOME/cache/embeddings.sqlite, on the PVC in the cluster).
Vectors are stored as float32 bytes; sentiment (when the model has the head) as 3 float32.
Runs embedding at once share it through claims: a run claims the texts it is about to embed (in
one transaction, only those neither cached nor claimed by a live run). A run killed on this
host is seen to be dead at once (claims are named by their owner process); one on another host
(pod) is given up after the lease, so a run that died never blocks the others for long.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from stock_assets.owners import owner_is_dead

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentiment BLOB,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID
"""
CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID
"""
CHUNK = 500  # SQLite's bound-parameter limit is far above this


class EmbeddingCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            db.execute(CLAIMS)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get(self, model: str, hashes: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        hashes = list(dict.fromkeys(hashes))
        found: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        with self._connect() as db:
            for i in range(0, len(hashes), CHUNK):
                part = hashes[i : i + CHUNK]
                rows = db.execute(
                    f"SELECT text_hash, vector, sentiment FROM embeddings WHERE model = ? "
                    f"AND text_hash IN ({','.join('?' * len(part))})",
                    [model, *part],
                )
                for text_hash, vector, sentiment in rows:
                    found[text_hash] = (
                        np.frombuffer(vector, dtype=np.float32),
                        None if sentiment is None else np.frombuffer(sentiment, dtype=np.float32),
                    )
        return found

    def put(self, model: str, hashes: list[str], vectors: np.ndarray, sentiment: np.ndarray | None,
            owner: str = "") -> None:
        rows = [
            (
                model,
                h,
                np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
                None if sentiment is None else np.ascontiguousarray(sentiment[i], dtype=np.float32).tobytes(),
            )
            for i, h in enumerate(hashes)
        ]
        with self._connect() as db:  # one transaction: all rows or none, and their claims released
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
            db.executemany("DELETE FROM claims WHERE model = ? AND text_hash = ?", [(model, h) for h in hashes])

    def claim(self, model: str, hashes: list[str], owner: str, lease_s: float) -> list[str]:
        """Claim those of `hashes` that are neither cached nor claimed by another live owner;
        returns them. One IMMEDIATE transaction: two runs never get the same text."""
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            now = time.time()
            db.execute("DELETE FROM claims WHERE expires < ?", (now,))
            owners = [o for (o,) in db.execute("SELECT DISTINCT owner FROM claims WHERE model = ? AND owner != ?", (model, owner))]
            db.executemany("DELETE FROM claims WHERE owner = ?", [(o,) for o in owners if owner_is_dead(o)])
            taken: set[str] = set()
            for i in range(0, len(hashes), CHUNK):
                part = hashes[i : i + CHUNK]
                marks = ",".join("?" * len(part))
                taken.update(h for (h,) in db.execute(
                    f"SELECT text_hash FROM embeddings WHERE model = ? AND text_hash IN ({marks})", [model, *part]))
                taken.update(h for (h,) in db.execute(
                    f"SELECT text_hash FROM claims WHERE model = ? AND owner != ? AND text_hash IN ({marks})", [model, owner, *part]))
            mine = [h for h in dict.fromkeys(hashes) if h not in taken]
            db.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", [(model, h, owner, now + lease_s) for h in mine])
            db.execute("COMMIT")
            return mine
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def release(self, model: str, owner: str) -> None:
        """Give back what `owner` claimed and did not cache (a run that fails cleanly)."""
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE model = ? AND owner = ?", (model, owner))


def embedding_cache(sqlite_path: str | Path | None = None):
    """The cache this deployment shares: PostgreSQL when STOCK_DATABASE_URL is set, else SQLite
    at `sqlite_path` (default STOCK_HOME/cache/embeddings.sqlite, on the local file system)."""
    from stock_assets.settings import local_home, settings

    url = settings().stock_database_url
    if url:
        from stock_assets.news.cache_postgres import PostgresEmbeddingCache

        return PostgresEmbeddingCache(url)
    return EmbeddingCache(sqlite_path or local_home() / "cache" / "embeddings.sqlite")

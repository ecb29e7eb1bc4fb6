"""Embedding cache keyed by (model id, text hash): no headline is embedded twice.

A SQLite file next to the lake (STOCK_HOME/cache/embeddings.sqlite). Vectors are stored as
float32 bytes; sentiment (when the model has the head) as 3 float32.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentiment BLOB,
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

    def put(self, model: str, hashes: list[str], vectors: np.ndarray, sentiment: np.ndarray | None) -> None:
        rows = [
            (
                model,
                h,
                np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
                None if sentiment is None else np.ascontiguousarray(sentiment[i], dtype=np.float32).tobytes(),
            )
            for i, h in enumerate(hashes)
        ]
        with self._connect() as db:  # one transaction: all rows or none
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

"""The `stock_news` ChromaDB collection: one record per raw_news id, kept equal to the lake.

Fully offline settings: no telemetry, no default embedding function, explicit vectors only.
Embedded PersistentClient by default; HttpClient for a Chroma server (Kubernetes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

COLLECTION = "stock_news"
# Days per `where` in reads over a date range: bounds each call whatever the range's length.
DAYS_PER_CALL = 31


def chroma_client(path: str | Path | None = None, host: str | None = None, port: int | None = None):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if host:
        return chromadb.HttpClient(host=host, port=int(port or 8000), settings=settings)
    if path is None:
        raise ValueError("an embedded Chroma store needs a path")
    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class NewsVectorStore:
    def __init__(self, client, name: str = COLLECTION, batch_size: int = 5000):
        self.client = client
        self.collection = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        # Stay below Chroma's limit per call (it depends on the backend's SQLite build).
        self.batch_size = max(1, min(batch_size, client.get_max_batch_size()))

    def record_embedder(self, name: str, dim: int) -> None:
        """Remember which encoder made the vectors: queries must be embedded by the same one."""
        meta = dict(self.collection.metadata or {})
        if meta.get("embedder") != name or meta.get("dim") != dim:
            self.collection.modify(metadata={**meta, "embedder": name, "dim": int(dim)})

    def recorded_embedder(self) -> tuple[str, int] | None:
        meta = self.collection.metadata or {}
        return (str(meta["embedder"]), int(meta["dim"])) if "embedder" in meta and "dim" in meta else None

    def _ids_where(self, where: dict) -> list[str]:
        """Ids matching `where`, a page at a time: one unbounded get() of a large collection
        fails inside Chroma ("too many SQL variables"), and ids alone need no metadata fetch."""
        ids: list[str] = []
        while True:
            page = self.collection.get(where=where, include=[], limit=self.batch_size, offset=len(ids))["ids"]
            ids += page
            if len(page) < self.batch_size:
                return ids

    def ids_for_days(self, days: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(days), DAYS_PER_CALL):
            found.update(self._ids_where({"date": {"$in": list(days[i : i + DAYS_PER_CALL])}}))
        return found

    def count_by_day(self, days: Sequence[str]) -> dict[str, int]:
        """Records per day, a day at a time (ids only: no metadata is fetched)."""
        return {day: len(self._ids_where({"date": day})) for day in days}

    def replace_days(
        self,
        days: Sequence[str],
        ids: list[str],
        vectors: np.ndarray,
        documents: list[str],
        metadatas: list[dict],
    ) -> tuple[int, int]:
        """Make the collection hold exactly these records for `days`: ids of those days that
        are not in `ids` are deleted, the rest upserted. Returns (upserted, deleted)."""
        stale = sorted(self.ids_for_days(days) - set(ids))
        for i in range(0, len(stale), self.batch_size):
            self.collection.delete(ids=stale[i : i + self.batch_size])
        for i in range(0, len(ids), self.batch_size):
            part = slice(i, i + self.batch_size)
            self.collection.upsert(
                ids=ids[part], embeddings=vectors[part], documents=documents[part], metadatas=metadatas[part]
            )
        return len(ids), len(stale)

    def query(self, vector: np.ndarray, k: int = 5, where: dict | None = None) -> dict:
        return self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )

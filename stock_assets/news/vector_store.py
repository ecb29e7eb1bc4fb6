"""The `stock_news` ChromaDB collection: one record per raw_news id, kept equal to the lake.

Fully offline settings: no telemetry, no default embedding function, explicit vectors only.
Embedded PersistentClient by default; HttpClient for a Chroma server (Kubernetes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

COLLECTION = "stock_news"


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
    def __init__(self, client, name: str = COLLECTION):
        self.client = client
        self.collection = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        # Stay below Chroma's limit per call (it depends on the backend's SQLite build).
        self.batch_size = max(1, min(5000, client.get_max_batch_size()))

    def record_embedder(self, name: str, dim: int) -> None:
        """Remember which encoder made the vectors: queries must be embedded by the same one."""
        meta = dict(self.collection.metadata or {})
        if meta.get("embedder") != name or meta.get("dim") != dim:
            self.collection.modify(metadata={**meta, "embedder": name, "dim": int(dim)})

    def recorded_embedder(self) -> tuple[str, int] | None:
        meta = self.collection.metadata or {}
        return (str(meta["embedder"]), int(meta["dim"])) if "embedder" in meta and "dim" in meta else None

    def ids_for_days(self, days: Sequence[str]) -> set[str]:
        if not days:
            return set()
        found = self.collection.get(where={"date": {"$in": list(days)}}, include=[])
        return set(found["ids"])

    def count_by_day(self, days: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(days, 0)
        if days:
            found = self.collection.get(where={"date": {"$in": list(days)}}, include=["metadatas"])
            for meta in found["metadatas"]:
                counts[meta["date"]] += 1
        return counts

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

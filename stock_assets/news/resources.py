"""The embedding model and the Chroma store as Dagster resources (STOCK_EMBEDDER, CHROMA_HOST)."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg
from pydantic import Field

from stock_assets.settings import local_home
from stock_assets.news.cache import embedding_cache
from stock_assets.news.embedder import TextEmbedder
from stock_assets.news.vector_store import NewsVectorStore, chroma_client


@lru_cache(maxsize=2)
def _loaded(model: str, precision: str, max_length: int, batch_tokens: int, home: str) -> TextEmbedder:
    # One load per process: the model and its ONNX export are reused across runs in a code server.
    return TextEmbedder(
        model,
        cache_dir=f"{home}/huggingface",
        precision=precision,
        onnx_dir=f"{home}/huggingface/onnx",
        max_length=max_length,
        batch_tokens=batch_tokens,
    )


class EmbedderResource(dg.ConfigurableResource):
    """A BERT-family encoder: ProsusAI/finbert (default), a local model folder, or `minilm`."""

    model: str = Field(default="ProsusAI/finbert", description="hub id, local folder, or 'minilm'")
    precision: str = Field(default="auto", description="auto (fastest that keeps cosine >= 0.999), fp32, bf16, int8")
    max_length: int = Field(default=128, description="tokens per headline (longer ones are truncated)")
    batch_tokens: int = Field(default=4096, description="padded tokens per forward pass")
    cache_path: str | None = Field(default=None, description="SQLite embedding cache when STOCK_DATABASE_URL "
                                                             "is unset (default STOCK_HOME/cache/embeddings.sqlite)")
    cache_chunk: int = Field(default=1000, ge=1, description="texts claimed, embedded and cached at a time (~20 s of "
                                                              "FinBERT on a 2-core CPU): what a run that dies loses at most")

    def load(self) -> TextEmbedder:
        return _loaded(self.model, self.precision, self.max_length, self.batch_tokens, str(local_home()))

    def cache(self):
        """PostgreSQL when STOCK_DATABASE_URL is set, else SQLite at cache_path."""
        return embedding_cache(self.cache_path)


class ChromaResource(dg.ConfigurableResource):
    """ChromaDB: embedded at STOCK_HOME/chromadb, or a server when `host` is set (CHROMA_HOST)."""

    host: str | None = Field(default=None, description="Chroma server host; empty for the embedded store")
    port: int | None = Field(default=None, description="Chroma server port (8000)")
    path: str | None = Field(default=None, description="embedded store folder (default STOCK_HOME/chromadb)")
    batch_size: int = Field(default=5000, ge=1, description="records per Chroma call (capped at the server's limit)")

    def store(self) -> NewsVectorStore:
        path = self.path or str(local_home() / "chromadb")
        return NewsVectorStore(chroma_client(path=path, host=self.host, port=self.port), batch_size=self.batch_size)

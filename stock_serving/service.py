"""What the chatbot API serves from: the training panel (for input windows), the Triton
forecaster, the news collection with the embedder that built it, and the LLM."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from upath import UPath

from stock_assets.export.triton_repository import MODEL_NAME, evaluation_of
from stock_assets.market_calendar import sessions_after
from stock_assets.model.network import HORIZON, WINDOW
from stock_assets.model.panel import Panel, load_panel, window_tensors
from stock_assets.news.embedder import EmbedderLoadError, TextEmbedder
from stock_assets.news.vector_store import NewsVectorStore, chroma_client
from stock_assets.settings import local_home, stock_home
from stock_serving.llm import ChatLLM
from stock_serving.news_table import NewsCache
from stock_serving.retrieval import OVERFETCH, select_sources
from stock_assets.track.calibration import scaled_quantiles
from stock_serving.track_record import interval_scales_on, live_record, record_signature
from stock_assets.export.triton_client import TritonForecaster

log = logging.getLogger(__name__)
MAX_FETCH = 1600  # nearest neighbours looked at, at most, for one search


@dataclass(frozen=True)
class ServingConfig:
    stock_home: UPath  # lake, models, track record: a path or an object store
    local_home: Path  # the embedded Chroma store and the HF cache
    triton_url: str
    chroma_host: str | None
    chroma_port: int | None
    embedder: str
    llm_base_url: str | None
    llm_model: str
    llm_timeout_s: float
    llm_concurrency: int
    llm_queue_timeout_s: float
    admin_token: str | None

    @classmethod
    def from_env(cls) -> ServingConfig:
        env = os.environ
        return cls(
            stock_home=stock_home(),
            local_home=local_home(),
            triton_url=env.get("TRITON_URL", "http://127.0.0.1:8000"),
            chroma_host=env.get("CHROMA_HOST") or None,
            chroma_port=int(env["CHROMA_PORT"]) if env.get("CHROMA_PORT") else None,
            embedder=env.get("STOCK_EMBEDDER", "ProsusAI/finbert"),
            llm_base_url=env.get("LLM_BASE_URL") or None,
            llm_model=env.get("LLM_MODEL", "llama3.1"),
            llm_timeout_s=float(env.get("LLM_TIMEOUT", "60")),
            llm_concurrency=int(env.get("LLM_CONCURRENCY", "2")),
            llm_queue_timeout_s=float(env.get("LLM_QUEUE_TIMEOUT", "10")),
            admin_token=env.get("CHATBOT_ADMIN_TOKEN") or None,
        )


def served_evaluation(stock_home, version: str) -> dict | None:
    """The measured skill and interval coverage recorded with a published model version (None,
    with the reason logged, when the repository does not hold it)."""
    try:
        return evaluation_of(stock_home / "models" / MODEL_NAME, int(version))
    except (OSError, ValueError) as exc:
        log.warning("no recorded evaluation for %s v%s under %s: %s", MODEL_NAME, version, stock_home, exc)
        return None


class UnknownSymbol(KeyError):
    pass


class NotReady(RuntimeError):
    """A component the request needs is not available; the message says which and how to fix it."""


class ServingState:
    def __init__(self, config: ServingConfig):
        self.config = config
        self.lock = threading.Lock()
        self.triton = TritonForecaster(config.triton_url)
        self.llm = ChatLLM(config.llm_base_url, config.llm_model, config.llm_timeout_s,
                           max_concurrent=config.llm_concurrency, queue_timeout_s=config.llm_queue_timeout_s)
        self.embedder: TextEmbedder | None = None
        self.embedder_name: str | None = None
        self.embedder_error: str | None = None
        self.panel: Panel | None = None
        self.store: NewsVectorStore | None = None
        self.model_version: str | None = None
        self.model_evaluation: dict[str, dict | None] = {}
        self._record_cache: tuple | None = None
        self.news = NewsCache(config.stock_home)
        self.reload()

    def reload(self) -> dict:
        """Pick up a new panel, model version and collection (after a redeploy)."""
        with self.lock:
            home = self.config.stock_home
            try:
                self.panel = load_panel(home / "lake" / "training_windows")
            except FileNotFoundError:
                self.panel = None
            self.store = None
            with contextlib.suppress(NotReady):  # no Chroma yet: start degraded, connect on first use
                self.vector_store()
            self.load_embedder()
            self.model_version = self.triton.model_version() if self.triton.ready() else None
            self.model_evaluation = {}
            self.news.warm()
            if self.model_version:
                self.model_evaluation[self.model_version] = served_evaluation(home, self.model_version)
            return {"model_version": self.model_version, "collection_size": self.store.collection.count() if self.store else None}

    def vector_store(self) -> NewsVectorStore:
        """The news collection, connected on first need: a Chroma server that starts after the
        API (or restarts) makes it degraded, not crash-looping."""
        if self.store is None:
            where = f"the Chroma server {self.config.chroma_host}:{self.config.chroma_port}" if self.config.chroma_host else "the embedded Chroma store"
            try:
                client = chroma_client(path=self.config.local_home / "chromadb", host=self.config.chroma_host, port=self.config.chroma_port)
                self.store = NewsVectorStore(client)
            except Exception as exc:  # noqa: BLE001 - connection, permission or server errors alike
                raise NotReady(f"news search is unavailable: {where} cannot be reached ({exc})") from exc
        return self.store

    def load_embedder(self) -> None:
        """The encoder the collection was built with (recorded in its metadata; STOCK_EMBEDDER
        for a collection that records none). Start degraded rather than not at all when it
        cannot be loaded: forecasts do not need it."""
        recorded = self.store.recorded_embedder() if self.store else None
        name = recorded[0] if recorded else self.config.embedder
        if self.embedder is not None and name == self.embedder_name:
            return
        home = self.config.local_home
        try:
            embedder = TextEmbedder(name, cache_dir=home / "huggingface", onnx_dir=home / "huggingface" / "onnx")
        except EmbedderLoadError as exc:
            built = f"the news collection was built with {name!r} ({recorded[1]}-d); " if recorded else ""
            self.embedder, self.embedder_name, self.embedder_error = None, None, f"{built}{exc}"
            return
        if recorded and embedder.dim != recorded[1]:
            self.embedder, self.embedder_name = None, None
            self.embedder_error = f"{name!r} gives {embedder.dim}-d vectors but the news collection holds {recorded[1]}-d ones"
            return
        self.embedder, self.embedder_name, self.embedder_error = embedder, name, None

    @property
    def symbols(self) -> list[str]:
        return list(self.panel.symbols) if self.panel else []

    @property
    def as_of(self) -> date:
        """The latest session in the lake: what "this week" and "last month" are counted from."""
        return date.fromisoformat(str(self.panel.sessions[-1]))

    def forecast(self, symbol: str) -> dict:
        panel = self.panel
        if panel is None or symbol not in panel.symbols:
            raise UnknownSymbol(symbol)
        column = panel.symbols.index(symbol)
        finite = np.flatnonzero(np.isfinite(panel.close[:, column]))
        if len(finite) < WINDOW:
            raise UnknownSymbol(symbol)
        end = int(finite[-1])
        price, news = window_tensors(panel, column, end)  # the same window code as training
        if not np.isfinite(price).all():
            raise ValueError(f"{symbol}: the last {WINDOW} sessions have gaps")
        closes, model_quantiles = self.triton.forecast(price[None], news[None])
        last_day = date.fromisoformat(str(panel.sessions[end]))
        scales = interval_scales_on(self.config.stock_home, last_day.isoformat())
        quantiles = scaled_quantiles(price[-1:, 0].astype(np.float64), model_quantiles, scales)[0]
        closes = closes[0]
        ahead = sessions_after(last_day, HORIZON)
        history = [{"date": str(d), "close": float(c)} for d, c in zip(panel.sessions[end - WINDOW + 1 : end + 1], price[:, 0])]
        version = self.model_version or self.triton.model_version()
        if version and version not in self.model_evaluation:
            self.model_evaluation[version] = served_evaluation(self.config.stock_home, version)
        return {
            "symbol": symbol,
            "history": history,
            "forecast": [
                {"date": d.strftime("%Y-%m-%d"), "close": float(c), "low": float(q[0]), "median": float(q[1]), "high": float(q[2])}
                for d, c, q in zip(ahead, closes, quantiles)
            ],
            "interval": "low/high: the 10 % and 90 % quantiles of each close (an 80 % interval), the model's interval "
                        "scaled by the live record (interval_scale)",
            "interval_scale": [round(float(s), 6) for s in scales],
            # the version picked up at (re)load; a redeploy calls /v1/admin/reload
            "model_version": version,
            "model_skill": self.model_evaluation.get(version) if version else None,  # the gate's selection figure
            "track_record": self.live_record(version),
        }

    def live_record(self, version: str | None) -> dict:
        """The served version's live record, read again only when forecast_scores changed (a
        two-year record takes about half a second to read and summarize)."""
        key = (version, record_signature(self.config.stock_home))
        if self._record_cache is None or self._record_cache[0] != key:
            self._record_cache = (key, live_record(self.config.stock_home, version))
        return self._record_cache[1]

    def search(self, query: str, symbol: str | None, date_from: date | None, date_to: date | None, k: int) -> list[dict]:
        clauses = []
        if symbol:
            clauses.append({"symbol": symbol})
        if date_from:
            clauses.append({"day": {"$gte": int(date_from.strftime("%Y%m%d"))}})
        if date_to:
            clauses.append({"day": {"$lte": int(date_to.strftime("%Y%m%d"))}})
        where = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        if self.embedder is None:
            raise NotReady(f"news search is unavailable: {self.embedder_error}")
        store = self.vector_store()
        vector = self.embedder.embed([query]).vectors[0]
        fetch = min(k * OVERFETCH, MAX_FETCH)
        while True:
            results = self._nearest(store, vector, fetch, where)
            # distinct texts with content, relevant first with a preference for recent ones (as of
            # the range's end); when boilerplate and repeats fill the nearest, look further out
            picked = select_sources(results, k, as_of=date_to)
            if len(picked) >= k or len(results) < fetch or fetch >= MAX_FETCH:
                return picked
            fetch = min(fetch * 4, MAX_FETCH)

    def _nearest(self, store, vector, fetch: int, where: dict | None) -> list[dict]:
        try:
            hits = store.query(vector, k=fetch, where=where)
        except Exception as exc:  # noqa: BLE001 - the server went away: 503 now, reconnect on the next request
            self.store = None
            raise NotReady(f"news search is unavailable: the vector store failed ({type(exc).__name__}: {str(exc)[:200]})") from exc
        return [{"id": rid, "headline": doc, "date": meta.get("date"), "symbol": meta.get("symbol"),
                 "source": meta.get("source", ""), "url": meta.get("url", ""), "sentiment": meta.get("sentiment"),
                 "sentiment_scorer": meta.get("sentiment_scorer"), "score": round(1.0 - float(distance), 6)}
                for rid, doc, meta, distance in zip(hits["ids"][0], hits["documents"][0], hits["metadatas"][0], hits["distances"][0])]

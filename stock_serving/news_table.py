"""The lake's news as the chat reads it: every headline with its session, sentiment and vector.

Read from `lake/raw_news` and `lake/news_embeddings` (the same files the assets wrote) and kept in
memory until either folder changes. Each headline is aligned as training aligns it: to the first
NYSE session that closes after it was published (after-hours and weekend texts belong to the next
session), so "the news of a day" is the news that could have moved that day's close.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stock_assets.market_calendar import session_close_times, sessions
from stock_assets.news.columns import SENTIMENT_COLUMNS
from stock_assets.news.lexicon import sentiment_label

log = logging.getLogger(__name__)
NEWS_COLUMNS = ["id", "published_at", "date", "symbol", "headline", "source", "url"]
LABELS = ("negative", "positive", "neutral")


def folder_signature(folder) -> tuple:
    if not folder.exists():
        return ()
    return tuple(sorted((p.name, p.stat().st_size) for p in folder.iterdir() if p.name.endswith(".parquet")))


def read_folder(folder, columns: list[str]) -> pd.DataFrame | None:
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".parquet")) if folder.exists() else []
    frames = [pd.read_parquet(p.open("rb"), columns=columns) for p in files]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


@dataclass
class NewsTable:
    frame: pd.DataFrame  # NEWS_COLUMNS + session (YYYY-MM-DD), sentiment, sentiment_score, sentiment_scorer
    vectors: np.ndarray  # float32 [N, D], unit length; row i belongs to frame row i

    @classmethod
    def empty(cls) -> NewsTable:
        frame = pd.DataFrame(columns=[*NEWS_COLUMNS, "session", "sentiment", "sentiment_score", "sentiment_scorer"])
        return cls(frame, np.zeros((0, 1), np.float32))

    @classmethod
    def load(cls, home) -> NewsTable:
        news = read_folder(home / "lake" / "raw_news", NEWS_COLUMNS)
        embedded = read_folder(home / "lake" / "news_embeddings", ["id", "embedding", *SENTIMENT_COLUMNS, "sentiment_scorer"])
        if news is None:
            return cls.empty()
        news = news.drop_duplicates("id")
        if embedded is not None:
            news = news.merge(embedded.drop_duplicates("id"), on="id", how="left")
        else:
            news = news.assign(embedding=None, sentiment_scorer=None, **{c: np.nan for c in SENTIMENT_COLUMNS})
        published = pd.to_datetime(news["published_at"], utc=True)
        first, last = published.min().date(), published.max().date()
        days = sessions(first, date(last.year + 1, 1, 31))
        close_ns = session_close_times(days).astype("int64")
        index = np.searchsorted(close_ns, published.dt.as_unit("ns").astype("int64").to_numpy(), side="right")
        news["session"] = [days[i].strftime("%Y-%m-%d") if i < len(days) else None for i in index]
        news["date"] = pd.to_datetime(news["date"]).dt.strftime("%Y-%m-%d")  # the New York day it was published
        probs = news[SENTIMENT_COLUMNS].to_numpy(dtype=np.float64)
        scored = np.isfinite(probs).all(axis=1)
        news["sentiment"] = [sentiment_label(p) if ok else None for p, ok in zip(probs, scored)]
        news["sentiment_score"] = np.where(scored, probs[:, 0] - probs[:, 1], np.nan)
        dim = next((len(v) for v in news["embedding"] if v is not None and len(v)), 1)
        vectors = np.zeros((len(news), dim), np.float32)
        for i, v in enumerate(news["embedding"]):
            if v is not None and len(v) == dim:
                vectors[i] = v
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        news = news.drop(columns=["embedding", *SENTIMENT_COLUMNS]).sort_values("published_at", kind="stable")
        order = news.index.to_numpy()
        return cls(news.reset_index(drop=True), vectors[order])

    def window(self, symbols: list[str] | None, start: date, end: date, by: str = "date") -> tuple[pd.DataFrame, np.ndarray]:
        """Headlines of `symbols` (None: all) published (by="date", New York day) or aligned
        (by="session") in [start, end], oldest first."""
        frame = self.frame
        mask = (frame[by] >= start.isoformat()) & (frame[by] <= end.isoformat())
        if symbols:
            mask &= frame["symbol"].isin(symbols)
        rows = np.flatnonzero(mask.to_numpy())
        return frame.iloc[rows].reset_index(drop=True), self.vectors[rows]


def headline_item(row) -> dict:
    return {"id": row.id, "headline": row.headline, "date": row.date, "session": row.session, "published": str(row.published_at)[:16],
            "source": row.source, "url": row.url or "", "symbol": row.symbol, "sentiment": row.sentiment,
            "sentiment_scorer": row.sentiment_scorer}


def sentiment_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["sentiment"].value_counts() if "sentiment" in frame else pd.Series(dtype=int)
    return {label: int(counts.get(label, 0)) for label in LABELS}


def balance(frame: pd.DataFrame) -> str:
    counts = sentiment_counts(frame)
    return ", ".join(f"{n} {label}" for label, n in counts.items() if n) or "not scored"


class NewsCache:
    """The table, read again only when the lake's news or embeddings changed; one reader at a time
    (concurrent chats wait for the one read instead of each reading the lake)."""

    def __init__(self, home):
        self.home = home
        self._key: tuple | None = None
        self._table = NewsTable.empty()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Read the table in the background (at start and after a reload), so the first chat does not."""
        threading.Thread(target=self.table, name="news-table", daemon=True).start()

    def table(self) -> NewsTable:
        with self._lock:
            return self._read()

    def _read(self) -> NewsTable:
        key = (folder_signature(self.home / "lake" / "raw_news"), folder_signature(self.home / "lake" / "news_embeddings"))
        if key != self._key:
            try:
                self._table = NewsTable.load(self.home)
            except (OSError, ValueError) as exc:
                log.warning("the lake's news could not be read under %s: %s", self.home, exc)
                self._table = NewsTable.empty()
            self._key = key
        return self._table

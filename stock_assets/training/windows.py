"""Build the training panel from the lake: closes per session and aligned daily news vectors.

News alignment (no look-ahead): a headline belongs to the first trading session that closes
(16:00 New York) after it was published; after-hours and weekend news go to the next session,
never an earlier one. Per (session, symbol): the mean of the latest K headline vectors (MARKET
news joins every symbol's pool when enabled), their count, and nothing stored when there is
none (the dataset reads zeros); and the tone of the symbol's own headlines that session (mean of
positive minus negative sentiment share over all of them; NaN without). News is streamed day by day and each session is finalized as
soon as no later day can add to it, so memory stays at sessions x symbols x D (float16).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from stock_assets import market_calendar
from stock_assets.ingest.news import MARKET
from stock_assets.market_calendar import session_close_times
from stock_assets.model.panel import Panel, index_windows


def align_to_sessions(published_at: pd.Series, close_ns: np.ndarray) -> np.ndarray:
    """Index of the first session closing strictly after each timestamp (len(close_ns) if none yet)."""
    stamps = pd.to_datetime(published_at, utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    return np.searchsorted(close_ns, stamps, side="right")


# Splits counted in sessions from the end of the panel, so adding older history moves neither:
# the last TEST_SESSIONS are the test period (its windows lie wholly inside it: 93 sessions give
# 59 window end days, ~5,000 gate windows for 88 symbols), the VALIDATION_SESSIONS before it the
# validation period (a quarter), everything earlier training.
VALIDATION_SESSIONS, TEST_SESSIONS = 63, 93


def default_split_dates(sessions: pd.DatetimeIndex, validation_sessions: int = VALIDATION_SESSIONS,
                        test_sessions: int = TEST_SESSIONS) -> tuple[str, str]:
    """(validation start, test start): the test period is the last `test_sessions` sessions, the
    validation period the `validation_sessions` before it. With fewer sessions than both need, the
    periods shrink from the start and the panel has no training windows (training_windows warns)."""
    if validation_sessions < 1 or test_sessions < 1:
        raise ValueError(f"validation_sessions ({validation_sessions}) and test_sessions ({test_sessions}) must be positive")
    n = len(sessions)
    validation = max(0, n - test_sessions - validation_sessions)
    test = min(max(validation + 1, n - test_sessions), n - 1)
    return sessions[validation].strftime("%Y-%m-%d"), sessions[test].strftime("%Y-%m-%d")


class NewsAccumulator:
    """Latest-K headline vectors per (session, symbol), finalized into means as sessions close."""

    def __init__(self, sessions: int, symbols: int, k: int):
        self.k, self.dim = k, None
        self.slot = np.full((sessions, symbols), -1, dtype=np.int32)
        self.count = np.zeros((sessions, symbols), dtype=np.int16)
        self.pending: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.buffer: np.ndarray | None = None  # allocated once D is known
        self.used = 0

    def add(self, session: np.ndarray, symbol: np.ndarray, stamp: np.ndarray, vectors: np.ndarray) -> None:
        if self.dim is None:
            self.dim = vectors.shape[1]
            # Room for every (session, symbol); np.empty maps pages lazily, so only the rows
            # actually written count towards memory, and the result needs no final copy.
            self.buffer = np.empty((self.slot.size, self.dim), dtype=np.float16)
        elif vectors.shape[1] != self.dim:
            raise ValueError(f"news vectors of width {vectors.shape[1]} after {self.dim}: re-materialize news_embeddings with one embedder")
        order = np.lexsort((stamp, symbol, session))
        session, symbol, stamp, vectors = session[order], symbol[order], stamp[order], vectors[order]
        keys = session.astype(np.int64) * self.slot.shape[1] + symbol
        bounds = np.flatnonzero(np.diff(keys)) + 1
        for part in np.split(np.arange(len(keys)), bounds):
            if not len(part):
                continue
            key = (int(session[part[0]]), int(symbol[part[0]]))
            self.count[key] += len(part)
            old = self.pending.get(key)
            stamps, vecs = stamp[part], vectors[part]
            if old is not None:
                stamps, vecs = np.concatenate([old[0], stamps]), np.concatenate([old[1], vecs])
                keep = np.argsort(stamps, kind="stable")[-self.k :]
                stamps, vecs = stamps[keep], vecs[keep]
            else:
                stamps, vecs = stamps[-self.k :], vecs[-self.k :]
            self.pending[key] = (stamps, vecs)

    def finalize_before(self, session: int) -> None:
        """Sessions before `session` can receive no more news: store their means."""
        done = [key for key in self.pending if key[0] < session]
        for key in sorted(done):
            _, vecs = self.pending.pop(key)
            self.slot[key] = self.used
            self.buffer[self.used] = vecs.astype(np.float32).mean(axis=0)
            self.used += 1

    def vectors(self, default_dim: int) -> np.ndarray:
        self.finalize_before(np.iinfo(np.int32).max)
        if self.buffer is None:
            return np.zeros((0, default_dim), dtype=np.float16)
        return self.buffer[: self.used]


class ToneAccumulator:
    """Sum and count of (positive - negative) per (session, symbol), of company headlines only:
    market news carries one tone for every symbol, which cannot tell them apart."""

    def __init__(self, sessions: int, symbols: int):
        self.total = np.zeros((sessions, symbols), dtype=np.float64)
        self.count = np.zeros((sessions, symbols), dtype=np.int32)

    def add(self, session: np.ndarray, symbol: np.ndarray, day: pd.DataFrame, rows: np.ndarray) -> None:
        if not {"sentiment_positive", "sentiment_negative"} <= set(day.columns) or not len(session):
            return
        tone = (day["sentiment_positive"].to_numpy(np.float64) - day["sentiment_negative"].to_numpy(np.float64))[rows]
        scored = np.isfinite(tone)
        np.add.at(self.total, (session[scored], symbol[scored]), tone[scored])
        np.add.at(self.count, (session[scored], symbol[scored]), 1)

    def tone(self) -> np.ndarray:
        return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan).astype(np.float32)


def price_matrix(prices: pd.DataFrame) -> tuple[pd.DatetimeIndex, list[str], np.ndarray, dict[str, list[str]]]:
    """Adjusted closes [sessions, symbols] on the exchange calendar's sessions from the first to
    the last price day (NaN where a symbol did not trade: before its listing, after a delisting,
    on a halt), and the rows dropped because their day is not a session {symbol: [days]}.
    Adjusted, so that splits and dividends do not look like price moves; on the calendar, so one
    symbol's stray rows cannot put gaps into every other symbol's series."""
    prices = prices[prices["symbol"] != MARKET]
    days = pd.to_datetime(prices["date"]).dt.normalize()
    off = market_calendar.non_sessions(days)
    dropped: dict[str, list[str]] = {}
    for symbol, day in zip(prices["symbol"][off], days[off]):
        dropped.setdefault(str(symbol), []).append(day.strftime("%Y-%m-%d"))
    kept = prices[~off].assign(date=days[~off])
    if kept.empty:
        return pd.DatetimeIndex([]), [], np.zeros((0, 0), np.float32), dropped
    sessions = market_calendar.sessions(kept["date"].min().date(), kept["date"].max().date() + pd.Timedelta(days=1))
    table = kept.pivot_table(index="date", columns="symbol", values="adj_close", aggfunc="last").reindex(sessions)
    return sessions, [str(s) for s in table.columns], table.to_numpy(dtype=np.float32), dropped


def build_panel(
    prices: pd.DataFrame,
    news_days: Iterable[pd.DataFrame],
    news_dim: int = 768,
    news_per_session: int = 5,
    market_news: bool = True,
    validation_start: str | None = None,
    test_start: str | None = None,
    validation_sessions: int = VALIDATION_SESSIONS,
    test_sessions: int = TEST_SESSIONS,
) -> Panel:
    """`news_days`: frames in day order with symbol and published_at, and their (rows, D)
    vectors in frame.attrs["vectors"]. D comes from the vectors; `news_dim` is only the width
    used when there is no news at all."""
    if prices.empty:
        raise ValueError("raw_prices is empty: materialize some price partitions first")
    sessions, symbols, close, dropped = price_matrix(prices)
    if not symbols:
        raise ValueError(f"raw_prices has no row on an NYSE session (rows on other days: {dropped})")
    column = {s: i for i, s in enumerate(symbols)}
    close_ns = session_close_times(sessions)
    news = NewsAccumulator(len(sessions), len(symbols), news_per_session)
    tones = ToneAccumulator(len(sessions), len(symbols))
    pending_after_last = 0
    for day in news_days:
        if day.empty:
            continue
        vectors = day.attrs["vectors"]
        session = align_to_sessions(day["published_at"], close_ns)
        stamp = pd.to_datetime(day["published_at"], utc=True).dt.as_unit("ns").astype("int64").to_numpy()
        known = session < len(sessions)
        pending_after_last += int((~known).sum())
        sym = day["symbol"].map(column)
        company = known & sym.notna().to_numpy()
        parts = [(session[company], sym[company].to_numpy(dtype=np.int64), stamp[company], vectors[company])]
        tones.add(parts[0][0].astype(np.int64), parts[0][1], day, np.flatnonzero(company))
        market = known & (day["symbol"] == MARKET).to_numpy()
        if market_news and market.any():
            n = len(symbols)
            parts.append((
                np.repeat(session[market], n), np.tile(np.arange(n), int(market.sum())),
                np.repeat(stamp[market], n), np.repeat(vectors[market], n, axis=0),
            ))
        for s, y, t, v in parts:
            if len(s):
                news.add(s.astype(np.int64), y.astype(np.int64), t, v)
        # Everything published on this day or earlier is in; sessions before its first possible one are complete.
        news.finalize_before(int(session.min()))
    vectors = news.vectors(news_dim)
    default_validation, default_test = default_split_dates(sessions, validation_sessions, test_sessions)
    validation_start = validation_start or default_validation
    test_start = test_start or default_test
    if not validation_start < test_start:
        raise ValueError(f"validation_start {validation_start} must come before test_start {test_start}")
    sessions_d = sessions.to_numpy().astype("datetime64[D]")
    windows = index_windows(close, sessions_d, validation_start, test_start)
    meta = {
        "news_dim": int(vectors.shape[1]),
        "watermark": sessions[-1].strftime("%Y-%m-%d"),
        "validation_start": validation_start,
        "test_start": test_start,
        "validation_sessions": validation_sessions,
        "test_sessions": test_sessions,
        "first_session": sessions[0].strftime("%Y-%m-%d"),
        "news_per_session": news_per_session,
        "market_news": market_news,
        "headlines_after_last_session": pending_after_last,
        "rows_off_calendar": {k: v[:10] for k, v in dropped.items()},  # dropped: not NYSE sessions
    }
    return Panel(sessions_d, symbols, close, news.slot, news.count, vectors, windows, meta, tones.tone())

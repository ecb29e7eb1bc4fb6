"""Price sources (yfinance, replay, synthetic) and the Yahoo-shape parsing they share.

Every source returns one long frame with the raw_prices contract columns for the symbols
and the half-open day range [start, end) asked for.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from stock_assets import market_calendar
from stock_assets.ingest.errors import SourceError

log = logging.getLogger(__name__)

PRICE_COLUMNS = ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
YAHOO_TO_CONTRACT = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
REQUIRED_YAHOO = ("Open", "High", "Low", "Close", "Volume")
PRICE_FIELDS = ["open", "high", "low", "close", "adj_close"]


class PriceSource(Protocol):
    def fetch(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame: ...


def empty_prices() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in PRICE_COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    frame["symbol"] = pd.Series(dtype="str")
    frame["volume"] = pd.Series(dtype="int64")
    return frame[PRICE_COLUMNS]


def normalize_yahoo_frame(frame: pd.DataFrame, symbol: str, origin: str) -> pd.DataFrame:
    """One ticker's Yahoo-shaped frame (Date index or column; Open, High, Low, Close,
    [Adj Close], Volume) -> contract columns. Rows with no prices at all (a failed ticker
    in a bulk download, a non-trading day) are dropped; a partly missing row is an error.
    Without 'Adj Close' (yfinance auto_adjust=True) the adjusted close is the close.
    """
    if "Date" in frame.columns:
        frame = frame.set_index("Date")
    missing = [c for c in REQUIRED_YAHOO if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{origin}: missing column(s) {missing}; expected Date, Open, High, Low, Close, "
            f"Adj Close, Volume (found {list(frame.columns)})"
        )
    frame = frame.copy()
    if "Adj Close" not in frame.columns:
        frame["Adj Close"] = frame["Close"]
    values = frame[list(YAHOO_TO_CONTRACT)].rename(columns=YAHOO_TO_CONTRACT)
    values = values.apply(pd.to_numeric, errors="coerce")
    values = values[~values.isna().all(axis=1)]
    partial = values[values.isna().any(axis=1)]
    if len(partial):
        first = partial.index[0]
        raise SourceError(
            f"{origin}: row {first} has missing or non-numeric values in "
            f"{list(partial.columns[partial.loc[first].isna()])}"
        )
    index = pd.to_datetime(values.index)
    if index.tz is not None:
        index = index.tz_convert(market_calendar.NEW_YORK).tz_localize(None)
    out = values.reset_index(drop=True)
    out.insert(0, "date", index.normalize().astype("datetime64[ns]"))
    out.insert(1, "symbol", symbol)
    out["volume"] = out["volume"].round().astype("int64")
    out[PRICE_FIELDS] = out[PRICE_FIELDS].astype("float64")
    return out[PRICE_COLUMNS].sort_values("date", kind="stable").reset_index(drop=True)


def split_yfinance_download(frame: pd.DataFrame | None, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Per-ticker frames out of yf.download's answer: (Price, Ticker) or (Ticker, Price)
    multi-level columns, or flat columns for a single ticker. Absent tickers are omitted."""
    if frame is None or frame.empty:
        return {}
    if not isinstance(frame.columns, pd.MultiIndex):
        if len(symbols) != 1:
            raise SourceError(f"yfinance returned flat columns for {len(symbols)} tickers")
        return {symbols[0]: frame}
    fields = set(YAHOO_TO_CONTRACT)
    level = 1 if set(frame.columns.get_level_values(0)) & fields else 0
    tickers = frame.columns.get_level_values(level)
    return {s: frame.xs(s, axis=1, level=level) for s in symbols if s in set(tickers)}


def concat_prices(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_prices()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def within(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    mask = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] < pd.Timestamp(end))
    return frame[mask].reset_index(drop=True)


class YFinancePriceSource:
    """One bulk `yf.download` for the whole universe and window.

    Tickers that come back empty while trading sessions were expected (rate limiting shows up
    this way too: yfinance swallows per-ticker errors) are fetched again with exponential
    backoff; after the last attempt the run fails naming them.
    """

    def __init__(
        self,
        download: Callable[..., pd.DataFrame] | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._download = download or _yf_download
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential
        from yfinance.exceptions import YFRateLimitError

        expect_rows = len(market_calendar.sessions(start, end)) > 0
        found: dict[str, pd.DataFrame] = {}

        def download_pending() -> list[str]:
            """One bulk download of the tickers still missing; returns those still missing."""
            pending = [s for s in symbols if s not in found]
            try:
                raw = self._download(pending, start, end)
            except YFRateLimitError:
                raw = None
                log.warning("yfinance rate limit")
            for symbol, frame in split_yfinance_download(raw, pending).items():
                prices = within(normalize_yahoo_frame(frame, symbol, f"yfinance {symbol}"), start, end)
                if len(prices):
                    found[symbol] = prices
            return [s for s in pending if s not in found]

        def warn(state) -> None:
            log.warning("yfinance: no prices for %s; retrying in %.0fs", state.outcome.result(), state.next_action.sleep)

        # Retry only while sessions were expected and tickers came back empty (a closure day has none).
        pending = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, exp_base=2, min=0, max=3600),
            retry=retry_if_result(lambda missing: bool(missing) and expect_rows),
            sleep=self._sleep, before_sleep=warn, retry_error_callback=lambda state: state.outcome.result(),
        )(download_pending)
        if pending and expect_rows:
            raise SourceError(
                f"yfinance returned no prices for {pending} between {start} and {end} "
                f"({self.max_attempts} attempts): check the symbols (delisted, renamed, or not "
                f"yet listed) or retry later if Yahoo is rate limiting"
            )
        return concat_prices([found[s] for s in symbols if s in found])


def _yf_download(symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
    import yfinance as yf

    return yf.download(
        list(symbols),
        start=start.isoformat(),
        end=end.isoformat(),
        auto_adjust=False,  # keep both the raw and the adjusted close
        actions=False,
        group_by="column",
        multi_level_index=True,
        progress=False,
        threads=True,
        timeout=30,
    )


def read_yahoo_csv(path: Path) -> pd.DataFrame:
    """A Yahoo CSV (Date,Open,High,Low,Close,Adj Close,Volume) as strings, strictly parsed."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="error")
    except pd.errors.ParserError as exc:
        raise SourceError(f"{path}: malformed CSV: {exc}") from None
    except pd.errors.EmptyDataError:
        raise SourceError(f"{path}: empty file, expected a header row") from None
    if "Date" not in frame.columns:
        raise SourceError(f"{path}: missing column(s) ['Date']; found {list(frame.columns)}")
    blank = frame.index[(frame == "").any(axis=1)]
    if len(blank):
        raise SourceError(f"{path}: line {blank[0] + 2} has an empty field")
    dates = pd.to_datetime(frame["Date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise SourceError(f"{path}: line {row + 2} has a bad date {frame['Date'].iloc[row]!r}")
    frame["Date"] = dates
    return frame


class ReplayPriceSource:
    """Recorded Yahoo CSVs: <replay_dir>/prices/<SYMBOL>.csv."""

    def __init__(self, replay_dir: str | Path):
        self.folder = Path(replay_dir) / "prices"
        if not self.folder.is_dir():
            raise SourceError(
                f"replay price folder {self.folder} does not exist; set STOCK_REPLAY_DIR to a "
                f"folder holding prices/<SYMBOL>.csv"
            )
        self._cache: dict[str, pd.DataFrame] = {}

    def _prices(self, symbol: str) -> pd.DataFrame:
        if symbol not in self._cache:
            path = self.folder / f"{symbol}.csv"
            if not path.exists():
                known = sorted(p.stem for p in self.folder.glob("*.csv"))
                raise SourceError(f"replay has no prices for {symbol} ({path}); it has {known}")
            self._cache[symbol] = normalize_yahoo_frame(read_yahoo_csv(path), symbol, str(path))
        return self._cache[symbol]

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        return concat_prices([within(self._prices(s), start, end) for s in symbols])


class SyntheticPriceSource:
    """Deterministic geometric random walks on NYSE sessions, seeded per symbol.

    A day's prices do not depend on the window asked for, so incremental runs agree with
    backfills. Cheap enough for large-scale benchmarks (thousands of symbols x decades).
    """

    ORIGIN = date(1990, 1, 2)

    def __init__(self, seed: int = 7):
        self.seed = seed

    def _series(self, symbol: str, end: date) -> pd.DataFrame:
        days = market_calendar.sessions(self.ORIGIN, end)
        digest = hashlib.sha256(f"{self.seed}:{symbol}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        # Draw a fixed-size block per session in order, so extending `end` keeps old values.
        draws = rng.standard_normal((len(days), 4))
        start_price = 20.0 + (digest[8] % 200)
        log_close = np.log(start_price) + np.cumsum(0.0003 + 0.015 * draws[:, 0])
        close = np.exp(log_close)
        prev = np.concatenate([[start_price], close[:-1]])
        open_ = prev * np.exp(0.004 * draws[:, 1])
        spread = 1 + 0.006 * np.abs(draws[:, 2])
        high = np.maximum(open_, close) * spread
        low = np.minimum(open_, close) / spread
        volume = (1e6 * np.exp(0.3 * draws[:, 3])).round().astype("int64")
        return pd.DataFrame(
            {
                "date": days.astype("datetime64[ns]"),
                "symbol": symbol,
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "adj_close": close,
                "volume": volume,
            }
        )

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        return concat_prices([within(self._series(s, end), start, end) for s in symbols])

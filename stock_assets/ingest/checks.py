"""Contract checks of raw_prices and raw_news, evaluated on every materialization.

They run inside the asset (check_specs), on exactly the rows the run wrote, so a single-run
backfill checks its whole window at once. ERROR checks are blocking: downstream assets do
not run on data that fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import dagster as dg
import numpy as np
import pandas as pd

from stock_assets import market_calendar
from stock_assets.ingest.prices import PRICE_FIELDS

PRICE_CHECKS = {
    "unique_date_symbol": "one row per (date, symbol)",
    "finite_positive_prices": "open, high, low, close, adj_close finite and > 0; volume >= 0",
    "ohlc_consistent": "low <= open, close <= high (warns: real Yahoo data has rare violations)",
    "dates_in_window": "every row's date lies inside the materialized partitions",
    "no_future_dates": "no session after today (New York)",
    "sessions_only": "every row's date is an NYSE session (exchange calendar: weekends, holidays and closures have no prices)",
}
NEWS_CHECKS = {
    "unique_id": "one row per id",
    "dates_in_window": "every row's date lies inside the materialized partitions",
    "no_future_timestamps": "no published_at after the run's start",
    "date_is_new_york_day": "date is the New York calendar day of published_at",
}
WARN_ONLY = {"ohlc_consistent"}


def check_specs(asset: str, checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset, description=text, blocking=name not in WARN_ONLY)
        for name, text in checks.items()
    ]


def _result(name: str, bad: pd.DataFrame, total: int, description: str | None = None, **extra) -> dg.AssetCheckResult:
    metadata: dict = {"failing_rows": len(bad), "rows_checked": total, **extra}
    if len(bad):
        metadata["examples"] = dg.MetadataValue.md(bad.head(5).to_markdown(index=False))
    severity = dg.AssetCheckSeverity.WARN if name in WARN_ONLY else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(check_name=name, passed=bad.empty, severity=severity, metadata=metadata, description=description)


def _outside(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    return frame[(frame["date"] < pd.Timestamp(start)) | (frame["date"] >= pd.Timestamp(end))]


def price_check_results(frame: pd.DataFrame, start: date, end: date, today: date) -> Iterator[dg.AssetCheckResult]:
    n = len(frame)
    yield _result("unique_date_symbol", frame[frame.duplicated(["date", "symbol"], keep=False)], n)
    prices = frame[PRICE_FIELDS].to_numpy(dtype="float64")
    bad_values = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1) | (frame["volume"] < 0).to_numpy()
    yield _result("finite_positive_prices", frame[bad_values], n)
    lo = frame[["open", "close"]].min(axis=1)
    hi = frame[["open", "close"]].max(axis=1)
    yield _result("ohlc_consistent", frame[(frame["low"] > lo) | (frame["high"] < hi)], n)
    yield _result("dates_in_window", _outside(frame, start, end), n)
    yield _result("no_future_dates", frame[frame["date"] > pd.Timestamp(today)], n)
    yield off_calendar_result(frame)


def off_calendar_days(frame: pd.DataFrame) -> dict[str, str]:
    """{symbol: up to 10 of its days that are not NYSE sessions}, for the rows that have any."""
    off = frame[market_calendar.non_sessions(frame["date"])]
    listed = off.groupby("symbol")["date"].apply(lambda d: ", ".join(sorted(d.dt.strftime("%Y-%m-%d").unique())[:10]))
    return {str(symbol): days for symbol, days in listed.items()}


def describe_off_calendar(days: dict[str, str]) -> str:
    return "rows on days that are not NYSE sessions: " + "; ".join(f"{symbol}: {listed}" for symbol, listed in days.items())


def off_calendar_result(frame: pd.DataFrame) -> dg.AssetCheckResult:
    """sessions_only, naming every symbol and (up to 10 of) its days that are not sessions."""
    off = frame[market_calendar.non_sessions(frame["date"])][["symbol", "date"]]
    if off.empty:
        return _result("sessions_only", off, len(frame))
    days = off_calendar_days(frame)
    return _result("sessions_only", off, len(frame), describe_off_calendar(days), off_calendar=dg.MetadataValue.json(days))


def missing_sessions(frame: pd.DataFrame, start: date, end: date) -> dict[str, int]:
    """Per symbol, the sessions between its first and last row in [start, end) without a row
    (halts; listings and delistings fall outside a symbol's own span). Reported, never blocking."""
    expected = market_calendar.sessions(start, end)
    out = {}
    for symbol, days in frame.groupby("symbol")["date"]:
        span = expected[(expected >= days.min()) & (expected <= days.max())]
        missing = int((~span.isin(pd.DatetimeIndex(days))).sum())
        if missing:
            out[str(symbol)] = missing
    return out


def news_check_results(frame: pd.DataFrame, start: date, end: date, now: pd.Timestamp) -> Iterator[dg.AssetCheckResult]:
    n = len(frame)
    yield _result("unique_id", frame[frame.duplicated("id", keep=False)], n)
    yield _result("dates_in_window", _outside(frame, start, end), n)
    yield _result("no_future_timestamps", frame[frame["published_at"] > now], n)
    local_day = frame["published_at"].dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize()
    yield _result("date_is_new_york_day", frame[local_day != frame["date"]], n)

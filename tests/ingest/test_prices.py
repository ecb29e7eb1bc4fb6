"""Price parsing on frames shaped exactly as yfinance returns them, and the replay/synthetic sources."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from yfinance.exceptions import YFRateLimitError

from stock_assets import market_calendar
from stock_assets.ingest.errors import SourceError
from stock_assets.ingest.prices import (
    PRICE_COLUMNS,
    ReplayPriceSource,
    SyntheticPriceSource,
    YFinancePriceSource,
    normalize_yahoo_frame,
    split_yfinance_download,
)

FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]


def replay_csv(replay_dir, symbol, start, end):
    frame = pd.read_csv(replay_dir / "prices" / f"{symbol}.csv", parse_dates=["Date"]).set_index("Date")
    return frame[(frame.index >= start) & (frame.index < end)]


def yf_download_shape(per_symbol: dict[str, pd.DataFrame | None], index, auto_adjust=False, group_by="column"):
    """The frame yf.download returns for several tickers: MultiIndex columns named
    (Price, Ticker) (or (Ticker, Price) with group_by='ticker'), a tz-naive DatetimeIndex
    named Date, and all-NaN columns for a ticker that failed."""
    fields = [f for f in FIELDS if not (auto_adjust and f == "Adj Close")]
    data = {}
    for field in fields:
        for symbol, frame in per_symbol.items():
            values = np.full(len(index), np.nan) if frame is None else frame.reindex(index)[field].to_numpy()
            key = (field, symbol) if group_by == "column" else (symbol, field)
            data[key] = values
    out = pd.DataFrame(data, index=pd.DatetimeIndex(index, name="Date"))
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["Price", "Ticker"] if group_by == "column" else ["Ticker", "Price"])
    return out


@pytest.fixture
def jan(replay_dir):
    start, end = "2014-01-01", "2014-02-01"
    return {s: replay_csv(replay_dir, s, start, end) for s in ("AAPL", "MSFT")}


def test_multilevel_download_parses_to_contract(jan):
    index = jan["AAPL"].index
    raw = yf_download_shape(jan, index)
    parts = split_yfinance_download(raw, ["AAPL", "MSFT"])
    aapl = normalize_yahoo_frame(parts["AAPL"], "AAPL", "test")
    assert list(aapl.columns) == PRICE_COLUMNS
    assert len(aapl) == 21
    assert aapl["close"].to_numpy() == pytest.approx(jan["AAPL"]["Close"].to_numpy())
    assert aapl["adj_close"].to_numpy() == pytest.approx(jan["AAPL"]["Adj Close"].to_numpy())
    assert aapl["volume"].dtype == "int64"


def test_ticker_grouped_and_auto_adjusted_shapes(jan):
    index = jan["AAPL"].index
    grouped = split_yfinance_download(yf_download_shape(jan, index, group_by="ticker"), ["AAPL", "MSFT"])
    assert normalize_yahoo_frame(grouped["MSFT"], "MSFT", "t")["close"].iloc[0] == pytest.approx(jan["MSFT"]["Close"].iloc[0])
    adjusted = split_yfinance_download(yf_download_shape(jan, index, auto_adjust=True), ["AAPL", "MSFT"])
    parsed = normalize_yahoo_frame(adjusted["AAPL"], "AAPL", "t")
    assert (parsed["adj_close"] == parsed["close"]).all()  # auto_adjust: Close is already adjusted


def test_tz_aware_index_becomes_new_york_session_dates(jan):
    frame = jan["AAPL"].copy()
    frame.index = frame.index.tz_localize("America/New_York")
    parsed = normalize_yahoo_frame(frame, "AAPL", "t")
    assert parsed["date"].iloc[0] == pd.Timestamp("2014-01-02")


def test_failed_ticker_nan_columns_are_retried_then_named(jan):
    index = jan["AAPL"].index
    calls, sleeps = [], []

    def download(symbols, start, end):
        calls.append(list(symbols))
        return yf_download_shape({s: (jan["AAPL"] if s == "AAPL" else None) for s in symbols}, index)

    source = YFinancePriceSource(download=download, max_attempts=3, backoff_seconds=1, sleep=sleeps.append)
    with pytest.raises(SourceError, match=r"no prices for \['GOOGL'\]"):
        source.fetch(["AAPL", "GOOGL"], date(2014, 1, 1), date(2014, 2, 1))
    assert calls == [["AAPL", "GOOGL"], ["GOOGL"], ["GOOGL"]]  # only the failed ticker is fetched again
    assert sleeps == [1, 2]


def test_empty_ticker_that_recovers_and_rate_limit_backoff(jan):
    index = jan["AAPL"].index
    answers = iter(["rate", "partial", "full"])
    sleeps = []

    def download(symbols, start, end):
        kind = next(answers)
        if kind == "rate":
            raise YFRateLimitError()
        if kind == "partial":
            return yf_download_shape({"AAPL": jan["AAPL"], "MSFT": None}, index)
        return yf_download_shape({s: jan[s] for s in symbols}, index)

    source = YFinancePriceSource(download=download, max_attempts=4, backoff_seconds=1, sleep=sleeps.append)
    prices = source.fetch(["AAPL", "MSFT"], date(2014, 1, 1), date(2014, 2, 1))
    assert sorted(prices["symbol"].unique()) == ["AAPL", "MSFT"]
    assert len(prices) == 42 and sleeps == [1, 2]
    assert prices["date"].is_monotonic_increasing


def test_holiday_window_is_empty_not_an_error():
    calls = []

    def download(symbols, start, end):
        calls.append(1)
        return pd.DataFrame()

    source = YFinancePriceSource(download=download, sleep=lambda s: pytest.fail("no retry on a holiday"))
    prices = source.fetch(["AAPL"], date(2014, 12, 25), date(2014, 12, 26))
    assert prices.empty and list(prices.columns) == PRICE_COLUMNS and calls == [1]


def test_partly_missing_row_is_an_error(jan):
    frame = jan["AAPL"].copy()
    frame.iloc[3, frame.columns.get_loc("Close")] = np.nan
    with pytest.raises(SourceError, match=r"2014-01-07.*'close'"):
        normalize_yahoo_frame(frame, "AAPL", "yfinance AAPL")


def test_replay_source_filters_the_window(replay_dir):
    prices = ReplayPriceSource(replay_dir).fetch(["SPY", "AAPL"], date(2014, 3, 1), date(2014, 4, 1))
    assert len(prices) == 2 * 21
    assert prices["date"].min() == pd.Timestamp("2014-03-03")


def test_calendar_matches_real_spy_sessions(replay_dir):
    spy = pd.read_csv(replay_dir / "prices" / "SPY.csv", parse_dates=["Date"])["Date"]
    expected = market_calendar.sessions(date(2008, 1, 1), date(2018, 1, 1))
    sandy = pd.DatetimeIndex(["2012-10-29", "2012-10-30"])  # unscheduled closure
    assert list(expected.difference(sandy)) == list(spy[spy >= "2008-01-01"])


def test_synthetic_prices_are_deterministic_and_window_independent():
    source = SyntheticPriceSource(seed=3)
    whole = source.fetch(["AAA", "BBB"], date(2015, 1, 1), date(2015, 3, 1))
    part = source.fetch(["AAA", "BBB"], date(2015, 2, 1), date(2015, 2, 15))
    again = SyntheticPriceSource(seed=3).fetch(["AAA", "BBB"], date(2015, 2, 1), date(2015, 2, 15))
    merged = part.merge(whole, on=["date", "symbol"], suffixes=("", "_whole"))
    assert len(merged) == len(part) > 0
    assert np.allclose(merged["close"], merged["close_whole"])
    pd.testing.assert_frame_equal(part, again)
    assert (part["low"] <= part[["open", "close"]].min(axis=1)).all()
    assert (part["high"] >= part[["open", "close"]].max(axis=1)).all()
    assert set(part["date"]) <= set(market_calendar.sessions(date(2015, 2, 1), date(2015, 2, 15)))

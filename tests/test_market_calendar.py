"""The exchange's real calendar (exchange_calendars XNYS): unscheduled closures, early closes,
and what they mean for ingestion and news alignment."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from stock_assets import market_calendar
from stock_assets.ingest.prices import PRICE_COLUMNS, SyntheticPriceSource, YFinancePriceSource
from stock_assets.training.windows import align_to_sessions, session_close_times

NY = market_calendar.NEW_YORK


@pytest.mark.parametrize("day", ["2012-10-29", "2012-10-30", "2018-12-05", "2025-01-09"])
def test_unscheduled_closures_are_not_sessions(day):
    assert not market_calendar.is_session(date.fromisoformat(day))
    assert market_calendar.non_sessions(pd.DatetimeIndex([day])).tolist() == [True]


def test_an_early_close_moves_the_news_cut_off_to_the_next_session():
    close = market_calendar.session_close(date(2019, 7, 3))
    assert close == datetime(2019, 7, 3, 13, 0, tzinfo=NY)
    assert market_calendar.session_closed(date(2019, 7, 3), datetime(2019, 7, 3, 13, 30, tzinfo=NY))
    assert not market_calendar.session_closed(date(2019, 7, 5), datetime(2019, 7, 5, 13, 30, tzinfo=NY))
    sessions = market_calendar.sessions(date(2019, 7, 2), date(2019, 7, 9))
    assert [d.strftime("%m-%d") for d in sessions] == ["07-02", "07-03", "07-05", "07-08"]  # July 4th is a holiday
    published = pd.Series(pd.to_datetime(["2019-07-03 12:59", "2019-07-03 14:00", "2019-07-05 15:59"]).tz_localize(NY))
    # 12:59 -> the 3rd; 14:00 is after the 13:00 early close -> the 5th; 15:59 on the 5th -> the 5th
    assert align_to_sessions(published, session_close_times(sessions)).tolist() == [1, 2, 2]


@pytest.mark.parametrize("day", [date(2018, 12, 5), date(2025, 1, 9)])
def test_a_closure_day_fetch_is_empty_with_no_retry(day):
    calls = []

    def download(symbols, start, end):  # what yfinance answers for a day without a session
        calls.append((start, end))
        return pd.DataFrame()

    source = YFinancePriceSource(download=download, sleep=lambda s: pytest.fail(f"no retry on the closure {day}"))
    prices = source.fetch(["AAPL", "MSFT"], day, date.fromordinal(day.toordinal() + 1))
    assert prices.empty and list(prices.columns) == PRICE_COLUMNS and len(calls) == 1


def test_synthetic_prices_follow_the_real_calendar():
    days = SyntheticPriceSource().fetch(["AAPL"], date(2012, 10, 25), date(2012, 11, 3))["date"].dt.strftime("%m-%d").tolist()
    assert days == ["10-25", "10-26", "10-31", "11-01", "11-02"]  # Hurricane Sandy closed the 29th and 30th


def test_sessions_are_the_exchange_calendar_over_a_decade():
    spans = market_calendar.sessions(date(2008, 1, 1), date(2018, 1, 1))
    assert len(spans) == 2518 and not market_calendar.non_sessions(spans).any()
    assert np.all(np.diff(spans.asi8) > 0)


def test_the_daily_run_for_a_weekday_without_a_session_succeeds_with_zero_rows(tmp_path):
    """2015-07-03, Independence Day observed (the tests' partitions are 2014-2015; the unscheduled
    closures are covered above at calendar and source level)."""
    from stock_assets.ingest.assets import raw_prices
    from tests.conftest import lake_resources, materialize_range

    resources = lake_resources(tmp_path / "lake", price={"source": "synthetic", "symbols": ["AAPL", "MSFT"]})
    result = materialize_range([raw_prices], resources, "2015-07-03", "2015-07-03")
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    assert pd.read_parquet(tmp_path / "lake" / "raw_prices" / "2015-07-03.parquet").empty

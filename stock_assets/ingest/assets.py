"""raw_prices and raw_news: daily partitions, one run per backfill window."""



from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from stock_assets import market_calendar
from stock_assets.automation import daily_after_close, every_evening, price_freshness, raw_freshness
from stock_assets.backfills import FINNHUB_POOL, news_backfill, prices_backfill
from stock_assets.ingest.adjustments import reconcile
from stock_assets.ingest.checks import (
    NEWS_CHECKS,
    PRICE_CHECKS,
    check_specs,
    describe_off_calendar,
    missing_sessions,
    news_check_results,
    off_calendar_days,
    price_check_results,
)
from stock_assets.ingest.news import normalize_finnhub_items
from stock_assets.ingest.news import within as news_within
from stock_assets.ingest.prices import within as prices_within
from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource
from stock_assets.lake import LakeResource
from stock_assets.metadata import frame_metadata
from stock_assets.partitions import daily_partitions_def
from stock_assets.teams import DATA_ENGINEERING


def window_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's partitions as New York days [start, end): one day, or a whole backfill range."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def drop_unclosed_session(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """A session that has not closed yet has no final prices: store it after the close."""
    today = now.astimezone(market_calendar.NEW_YORK).date()
    if market_calendar.session_closed(today, now):
        return frame
    return frame[frame["date"] != pd.Timestamp(today)].reset_index(drop=True)


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=daily_partitions_def,
    backfill_policy=prices_backfill,
    group_name="ingest",
    kinds={"pandas", "parquet"},
    check_specs=check_specs("raw_prices", PRICE_CHECKS),
    automation_condition=daily_after_close,
    freshness_policy=price_freshness,
)
def raw_prices(
    context: dg.AssetExecutionContext, price_source: PriceSourceResource, lake: LakeResource
):
    """Daily OHLCV per symbol (date, symbol, open, high, low, close, adj_close, volume).

    One file per New York calendar day; a day without trading is an empty, valid partition.
    A backfill is one run with one bulk download for the whole universe. An incremental run
    re-fetches a few stored sessions: if a split or dividend restated them, it fails and asks
    for a backfill (or rescales, per `adjustment_policy`) instead of storing a jump.
    """
    start, end = window_days(context)
    source = price_source.build()
    overlap_keys = [
        (start - timedelta(days=n)).isoformat() for n in range(price_source.overlap_days, 0, -1)
    ]
    stored_overlap = lake.read("raw_prices", overlap_keys)
    fetch_from = start - timedelta(days=price_source.overlap_days) if stored_overlap is not None else start
    fetched = source.fetch(price_source.symbols, fetch_from, end)
    now = datetime.now(tz=market_calendar.NEW_YORK)
    window = drop_unclosed_session(prices_within(fetched, start, end), now)
    window, restated = reconcile(
        window,
        stored_overlap,
        prices_within(fetched, fetch_from, start),
        price_source.adjustment_policy,
        backfill_from=daily_partitions_def.start.strftime("%Y-%m-%d"),
    )
    for r in restated:
        context.log.warning(f"rescaled to the stored basis: {r.describe()}")
    dropped = {}
    if price_source.off_calendar_rows == "drop":
        off = market_calendar.non_sessions(window["date"])
        if off.any():
            dropped = off_calendar_days(window)
            context.log.warning(f"dropped {int(off.sum())} rows: {describe_off_calendar(dropped)}")
            window = window[~off].reset_index(drop=True)
    checks = list(price_check_results(window, start, end, now.date()))
    gaps = missing_sessions(window, start, end)
    context.log.info(f"raw_prices {start}..{end}: {len(window)} rows from {price_source.source}")
    yield dg.Output(
        window,
        metadata={
            **frame_metadata(window),
            "source": price_source.source,
            "partitions": len(context.partition_keys),
            "restated_symbols": len(restated),
            # sessions inside a symbol's own span without a row (halts): reported, not blocking
            "missing_sessions": dg.MetadataValue.json(gaps),
            "dropped_off_calendar_rows": dg.MetadataValue.json(dropped),
        },
    )
    yield from checks


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=daily_partitions_def,
    backfill_policy=news_backfill,
    pool=FINNHUB_POOL,
    group_name="ingest",
    kinds={"pandas", "parquet"},
    check_specs=check_specs("raw_news", NEWS_CHECKS),
    automation_condition=every_evening,
    freshness_policy=raw_freshness,
)
def raw_news(context: dg.AssetExecutionContext, news_source: NewsSourceResource):
    """Financial news items (id, published_at UTC, date, symbol, headline, summary, source, url).

    `date` is the New York calendar day of publication (aligning news to trading sessions
    happens downstream); general market news has symbol MARKET. Items are deduplicated by id,
    so re-running a day gives the same rows.
    """
    start, end = window_days(context)
    tagged = news_source.build().fetch(news_source.universe, start, end)
    normalized = normalize_finnhub_items(tagged)
    window = news_within(normalized, start, end)
    checks = list(news_check_results(window, start, end, pd.Timestamp.now(tz="UTC")))
    context.log.info(f"raw_news {start}..{end}: {len(window)} items from {news_source.source}")
    yield dg.Output(
        window,
        metadata={
            **frame_metadata(window),
            "source": news_source.source,
            "partitions": len(context.partition_keys),
            "items_fetched": len(tagged),
            "duplicates_dropped": len(tagged) - len(normalized),
        },
    )
    yield from checks

"""Real Dagster runs on the recorded data in ../shared/data/replay."""

import hashlib
import json

import dagster as dg
import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.lake import PartitionedParquetIOManager
from stock_assets.partitions import daily_partitions_def
from tests.conftest import REPLAY_SYMBOLS, lake_files, lake_resources, materialize_range

FIRST, LAST = "2014-01-01", "2014-03-31"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory, replay_dir):
    lake = tmp_path_factory.mktemp("lake")
    with dg.instance_for_test() as instance:
        result = materialize_range([raw_prices, raw_news], lake_resources(lake), FIRST, LAST, instance)
        assert result.success
        runs = instance.get_runs()
    return lake, result, runs


def test_three_months_is_one_run_with_one_file_per_day(backfilled):
    lake, result, runs = backfilled
    assert len(runs) == 1
    days = pd.date_range(FIRST, LAST).strftime("%Y-%m-%d")
    assert lake_files(lake, "raw_prices") == [f"{d}.parquet" for d in days]
    assert lake_files(lake, "raw_news") == [f"{d}.parquet" for d in days]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 10 and all(c.passed for c in checks)  # 6 price + 4 news checks


def test_aapl_has_exactly_the_replay_trading_days(backfilled, replay_dir):
    lake, _, _ = backfilled
    stored = pd.concat(pd.read_parquet(p) for p in sorted((lake / "raw_prices").glob("*.parquet")))
    csv = pd.read_csv(replay_dir / "prices" / "AAPL.csv", parse_dates=["Date"])
    csv = csv[(csv["Date"] >= FIRST) & (csv["Date"] <= LAST)]
    aapl = stored[stored["symbol"] == "AAPL"].sort_values("date")
    assert list(aapl["date"]) == list(csv["Date"])
    assert aapl["close"].to_numpy() == pytest.approx(csv["Close"].to_numpy())
    assert aapl["adj_close"].to_numpy() == pytest.approx(csv["Adj Close"].to_numpy())
    assert list(stored.columns) == ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
    # a weekend and a holiday are empty but valid partitions
    for day in ("2014-01-04", "2014-01-20"):
        empty = pd.read_parquet(lake / "raw_prices" / f"{day}.parquet")
        assert empty.empty and list(empty.columns) == list(stored.columns)


def test_news_rows_equal_replay_items_after_dedupe(backfilled, replay_dir):
    lake, _, _ = backfilled
    stored = pd.concat(pd.read_parquet(p) for p in sorted((lake / "raw_news").glob("*.parquet")))
    expected = set()
    for symbol in REPLAY_SYMBOLS:
        path = replay_dir / "news" / f"{symbol}.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            item = json.loads(line)
            day = pd.Timestamp(item["datetime"], unit="s", tz="UTC").tz_convert("America/New_York")
            if FIRST <= day.strftime("%Y-%m-%d") <= LAST and item["headline"].strip():
                expected.add((symbol, item["datetime"], item["id"]))
    got = {(r.symbol, int(r.published_at.timestamp()), r.headline) for r in stored.itertuples()}
    assert len(stored) == len(expected) == len(got) > 1000
    assert stored["id"].is_unique
    assert stored["id"].str.fullmatch(r"\d{10}_[0-9a-f]{16}").all()
    assert set(stored["symbol"]) <= set(REPLAY_SYMBOLS)
    local_day = stored["published_at"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    assert (local_day == stored["date"].dt.strftime("%Y-%m-%d")).all()


def test_rematerializing_a_partition_leaves_identical_files(backfilled):
    lake, _, _ = backfilled

    def digests():
        return {
            asset: hashlib.sha256((lake / asset / "2014-02-14.parquet").read_bytes()).hexdigest()
            for asset in ("raw_prices", "raw_news")
        }

    before = digests()
    result = dg.materialize([raw_prices, raw_news], resources=lake_resources(lake), partition_key="2014-02-14")
    assert result.success
    assert digests() == before


def test_loading_a_range_of_partitions_returns_one_frame(backfilled):
    lake, _, _ = backfilled
    from upath import UPath

    manager = PartitionedParquetIOManager(base_path=UPath(lake))
    context = dg.build_input_context(
        asset_key=dg.AssetKey("raw_prices"),
        asset_partitions_def=daily_partitions_def,
        asset_partition_key_range=dg.PartitionKeyRange("2014-01-01", "2014-01-31"),
        dagster_type=dg.DagsterType(lambda _, __: True, name="frame"),
    )
    frame = manager.load_input(context)
    assert isinstance(frame, pd.DataFrame)
    assert frame["date"].min() == pd.Timestamp("2014-01-02")
    assert frame["date"].max() == pd.Timestamp("2014-01-31")
    assert len(frame) == 21 * len(REPLAY_SYMBOLS)  # 21 NYSE sessions in January 2014
    assert frame["date"].is_monotonic_increasing

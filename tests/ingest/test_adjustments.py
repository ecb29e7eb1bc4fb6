"""A dividend or split restating history must not create a silent jump in the lake."""

import shutil

import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_prices
from tests.conftest import lake_resources, materialize_range
from tests.ingest.test_bad_input import failure_text


def restate(csv_path, adj_factor=1.0, split=1.0):
    """What a fresh Yahoo download looks like after a dividend (adjusted closes scaled) or
    a split (all prices divided, volume multiplied)."""
    frame = pd.read_csv(csv_path)
    frame["Adj Close"] *= adj_factor / split
    for col in ("Open", "High", "Low", "Close"):
        frame[col] /= split
    frame["Volume"] = (frame["Volume"] * split).round().astype("int64")
    frame.to_csv(csv_path, index=False, float_format="%.6f")


@pytest.fixture
def history(tmp_path, replay_dir):
    replay = tmp_path / "replay"
    shutil.copytree(replay_dir, replay)
    lake = tmp_path / "lake"
    config = {"replay_dir": str(replay), "symbols": ["SPY", "AAPL"]}
    assert materialize_range([raw_prices], lake_resources(lake, price=config), "2014-01-01", "2014-01-31").success
    return replay, lake, config


def test_restated_history_fails_and_says_to_backfill(history):
    replay, lake, config = history
    restate(replay / "prices" / "AAPL.csv", adj_factor=0.97)
    result = materialize_range(
        [raw_prices], lake_resources(lake, price=config), "2014-02-03", "2014-02-03", raise_on_error=False
    )
    text = failure_text(result)
    assert "adjusted prices changed since they were stored" in text
    assert "AAPL from 2014-01-24" in text and "Backfill raw_prices from 2014-01-01" in text
    assert "SPY" not in text.split("history):")[1].split(".")[0]
    assert not (lake / "raw_prices" / "2014-02-03.parquet").exists()


@pytest.mark.parametrize("adj_factor, split", [(0.97, 1.0), (1.0, 7.0)], ids=["dividend", "split-7-for-1"])
def test_rescale_policy_keeps_the_series_continuous(history, replay_dir, adj_factor, split):
    replay, lake, config = history
    restate(replay / "prices" / "AAPL.csv", adj_factor=adj_factor, split=split)
    resources = lake_resources(lake, price={**config, "adjustment_policy": "rescale"})
    assert materialize_range([raw_prices], resources, "2014-02-03", "2014-02-03").success
    stored = pd.read_parquet(lake / "raw_prices" / "2014-02-03.parquet").set_index("symbol")
    original = pd.read_csv(replay_dir / "prices" / "AAPL.csv").set_index("Date").loc["2014-02-03"]
    # on the stored basis: equal to what the lake would have held without the restatement
    assert stored.loc["AAPL", "close"] == pytest.approx(original["Close"], rel=1e-5)
    assert stored.loc["AAPL", "adj_close"] == pytest.approx(original["Adj Close"], rel=1e-5)
    assert stored.loc["AAPL", "volume"] == pytest.approx(original["Volume"], rel=1e-5)

"""served_forecasts and forecast_scores through the real Dagster materialize, on replay prices:
each version forecasts only its own days, each forecast is scored once on its horizon day, and the
daily interval scale uses no outcome unknown on the day."""

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from stock_assets.export.onnx_export import export_onnx
from stock_assets.ingest.assets import raw_prices
from stock_assets.ingest.prices import ReplayPriceSource
from stock_assets.settings import local_home
from stock_assets.model.network import build_model
from stock_assets.model.panel import save_panel
from stock_assets.track import registry
from stock_assets.track.assets import forecast_scores, served_forecasts
from stock_assets.track.calibration import aci_scales, interval_scales, normalized_miss, served_scales
from stock_assets.track.record import read_record, summary
from stock_assets.track.resources import ServedModelResource
from stock_assets.training.assets import panel_root
from stock_assets.training.windows import build_panel
from tests.conftest import lake_resources, materialize_range
from tests.export.test_onnx_model import worse_model
from tests.servers import free_port

SYMBOLS = ["AAPL", "MSFT", "GOOG", "JPM", "XOM", "GE"]
D = 16


@pytest.fixture
def track_home(tmp_path, monkeypatch, replay_dir):
    """Replay prices for 2014 in the lake and the panel; v1 (a model that moves at random)
    registered with data until 2014-09-30, v2 (the random walk) with data until 2014-10-15."""
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    resources = lake_resources(tmp_path / "lake", price={"symbols": SYMBOLS})
    assert materialize_range([raw_prices], resources, "2014-01-01", "2014-12-31").success
    prices = ReplayPriceSource(replay_dir).fetch(SYMBOLS, date(2014, 1, 1), date(2015, 1, 1))
    save_panel(panel_root(), build_panel(prices, [], news_dim=D))
    for version, model, until in ((1, worse_model(seed=1, news_dim=D), "2014-09-30"), (2, build_model("small", news_dim=D), "2014-10-15")):
        path = tmp_path / f"v{version}.onnx"
        export_onnx(model.eval(), path)
        registry.register(local_home(), version, path, watermark=until, data_until=until, network="news")
    # No Triton here (a closed port): the archived files answer, as for any day Triton no longer serves.
    resources["served_model"] = ServedModelResource(triton_url=f"http://127.0.0.1:{free_port()}")
    return tmp_path, resources


def stored(home, asset):
    return read_record(home / "lake" / asset)


def test_a_backfill_spanning_two_versions_uses_each_on_its_own_days_only(track_home):
    home, resources = track_home
    assert materialize_range([served_forecasts], resources, "2014-09-29", "2014-10-31").success
    forecasts = stored(home, "served_forecasts")
    by_day = forecasts.groupby("date")["model_version"].unique()
    assert "2014-09-30" not in by_day and "2014-09-29" not in by_day  # before the first version: nothing
    assert by_day.index.min() == "2014-10-01"
    for day, versions in by_day.items():
        assert list(versions) == ([1] if day < "2014-10-16" else [2]), day
    assert set(forecasts["symbol"]) == set(SYMBOLS) and not forecasts.groupby(["date", "symbol"]).size().ne(5).any()
    weekend = forecasts[forecasts["date"] == "2014-10-04"]
    assert weekend.empty
    assert (forecasts["served_by"] == "onnxruntime (archived file)").all()


def test_every_forecast_is_scored_once_on_its_horizon_day_and_rescoring_changes_nothing(track_home):
    home, resources = track_home
    assert materialize_range([served_forecasts], resources, "2014-11-20", "2014-11-28").success
    for day in pd.date_range("2014-11-20", "2014-12-08").strftime("%Y-%m-%d"):
        assert dg.materialize([forecast_scores], resources=resources, partition_key=day).success
    forecasts, scores = stored(home, "served_forecasts"), stored(home, "forecast_scores")
    keys = ["forecast_date", "symbol", "horizon"]
    assert not scores.duplicated(keys).any()
    assert (scores["date"] == forecasts.set_index(["date", "symbol", "horizon"]).loc[
        list(scores[keys].itertuples(index=False, name=None)), "target_date"].to_numpy()).all()
    # every forecast whose target day is within the scored days is scored
    due = forecasts[forecasts["target_date"] <= "2014-12-08"]
    assert len(scores) == len(due)
    # Thanksgiving (27th) is no session: the 26th's first horizon is the early close of the 28th
    wednesday = scores[(scores["forecast_date"] == "2014-11-26") & (scores["horizon"] == 1)]
    assert set(wednesday["date"]) == {"2014-11-28"}
    assert scores[scores["date"].isin(["2014-11-27", "2014-11-29", "2014-11-30"])].empty
    with dg.instance_for_test() as instance:  # the record in the UI: the table and the plot
        result = dg.materialize([forecast_scores], resources=resources, partition_key="2014-12-08", instance=instance)
        shown = result.get_asset_materialization_events()[0].materialization.metadata["track_record"].value
        assert "| v2 (served) | since publication |" in shown and "data:image/png;base64," in shown
    before = (home / "lake" / "forecast_scores" / "2014-12-01.parquet").read_bytes()
    before_frame = pd.read_parquet(home / "lake" / "forecast_scores" / "2014-12-01.parquet")
    assert dg.materialize([forecast_scores], resources=resources, partition_key="2014-12-01").success
    pd.testing.assert_frame_equal(before_frame, pd.read_parquet(home / "lake" / "forecast_scores" / "2014-12-01.parquet"))
    assert len(before) > 0
    # realised returns are the replay closes'
    prices = pd.concat([pd.read_parquet(p) for p in (home / "lake" / "raw_prices").glob("2014-1[12]-*.parquet")])
    close = prices[prices["symbol"] == "AAPL"].assign(day=lambda f: pd.to_datetime(f["date"]).dt.strftime("%Y-%m-%d")).set_index("day")["adj_close"]
    row = scores[(scores["symbol"] == "AAPL") & (scores["forecast_date"] == "2014-11-21") & (scores["horizon"] == 5)].iloc[0]
    assert row["date"] == "2014-12-01"  # 24, 25, 26, 28 (27: Thanksgiving), 1
    assert row["realised_return"] == pytest.approx(np.log(close["2014-12-01"] / close["2014-11-21"]), rel=1e-5)


def test_the_daily_scale_uses_no_outcome_unknown_on_the_day(track_home):
    home, resources = track_home
    assert materialize_range([served_forecasts], resources, "2014-10-01", "2014-11-10").success
    for day in pd.date_range("2014-10-02", "2014-11-14").strftime("%Y-%m-%d"):
        assert dg.materialize([forecast_scores], resources=resources, partition_key=day).success
    day = "2014-11-10"
    assert dg.materialize([served_forecasts], resources=resources, partition_key=day).success
    path = home / "lake" / "served_forecasts" / f"{day}.parquet"
    scales = pd.read_parquet(path).groupby("horizon")["interval_scale"].first().to_numpy()
    assert not np.allclose(scales, 1.0)  # 20+ scored sessions: the record, not the version, sets it
    folder = home / "lake" / "forecast_scores"
    rng = np.random.default_rng(0)
    for later in ("2014-11-11", "2014-11-12", "2014-11-13", "2014-11-14"):  # outcomes unknown on the 10th
        frame = pd.read_parquet(folder / f"{later}.parquet")
        frame["miss"] = rng.uniform(5, 50, len(frame))
        frame.to_parquet(folder / f"{later}.parquet", index=False)
    assert dg.materialize([served_forecasts], resources=resources, partition_key=day).success
    np.testing.assert_array_equal(pd.read_parquet(path).groupby("horizon")["interval_scale"].first().to_numpy(), scales)
    prices = home / "lake" / "raw_prices"
    for later in ("2014-11-11", "2014-11-12"):  # later closes too
        frame = pd.read_parquet(prices / f"{later}.parquet")
        frame["adj_close"] *= 1.5
        frame.to_parquet(prices / f"{later}.parquet", index=False)
    assert dg.materialize([served_forecasts], resources=resources, partition_key=day).success
    np.testing.assert_array_equal(pd.read_parquet(path).groupby("horizon")["interval_scale"].first().to_numpy(), scales)
    earlier = pd.read_parquet(folder / "2014-11-07.parquet")  # known on the 10th: it counts
    earlier["miss"] = 40.0
    earlier.to_parquet(folder / "2014-11-07.parquet", index=False)
    assert dg.materialize([served_forecasts], resources=resources, partition_key=day).success
    assert (pd.read_parquet(path).groupby("horizon")["interval_scale"].first().to_numpy() > scales).all()


def test_the_scale_brings_a_too_narrow_interval_to_80_percent():
    rng = np.random.default_rng(1)
    days = pd.date_range("2014-01-01", periods=80).strftime("%Y-%m-%d")
    realised = rng.standard_normal((80, 50)) * 2.0  # twice the width the interval assumes
    misses = normalized_miss(realised, -np.full_like(realised, 1.2816), np.zeros_like(realised), np.full_like(realised, 1.2816))
    scores = pd.DataFrame({"date": np.repeat(days, 50), "horizon": 1, "miss": misses.reshape(-1)})
    scale = interval_scales(scores)[0]
    assert scale == pytest.approx(2.0, rel=0.1)
    assert np.mean(misses[-63:] <= scale) == pytest.approx(0.8, abs=0.01)
    assert (interval_scales(scores.iloc[: 19 * 50])[0]) == 1.0  # too few sessions: the version's own interval


def test_summary_pinball_matches_scikit_learn_and_the_record_says_worse_when_it_is(track_home):
    from sklearn.metrics import mean_pinball_loss

    home, resources = track_home
    assert materialize_range([served_forecasts], resources, "2014-10-01", "2014-10-15").success
    for day in pd.date_range("2014-10-02", "2014-10-24").strftime("%Y-%m-%d"):
        assert dg.materialize([forecast_scores], resources=resources, partition_key=day).success
    scores = stored(home, "forecast_scores")
    forecasts = stored(home, "served_forecasts").set_index(["date", "symbol", "horizon"])
    joined = scores.join(forecasts[["last_close", "low", "median", "high"]], on=["forecast_date", "symbol", "horizon"])
    quantiles = np.log(joined[["low", "median", "high"]].to_numpy() / joined[["last_close"]].to_numpy())
    expected = np.mean([mean_pinball_loss(joined["realised_return"], quantiles[:, i], alpha=a) for i, a in enumerate((0.1, 0.5, 0.9))])
    assert scores["pinball"].mean() == pytest.approx(expected, rel=1e-9)
    record = summary(scores)  # v1 moves at random: clearly worse than the random walk
    assert record["skill"] < 0 and record["forecasts"] == scores.groupby(["forecast_date", "symbol"]).ngroups


def test_aci_widens_after_misses_and_narrows_after_hits_and_ignores_later_outcomes():
    rng = np.random.default_rng(2)
    days = pd.date_range("2014-01-01", periods=60).strftime("%Y-%m-%d")
    misses = np.abs(rng.standard_normal((60, 40)))
    base = pd.DataFrame({"date": np.repeat(days, 40), "horizon": 1, "miss": misses.reshape(-1)})
    neutral = aci_scales(base.assign(hit=0.8))[0]  # missed 20 % each session: alpha stays at 0.2
    assert neutral == pytest.approx(np.quantile(misses, 0.8), rel=1e-9)
    assert aci_scales(base.assign(hit=0.5))[0] > neutral > aci_scales(base.assign(hit=1.0))[0]
    later = pd.DataFrame({"date": "2014-03-15", "horizon": 1, "miss": [50.0] * 40, "hit": 0.0})
    day = days[-1]
    assert served_scales(pd.concat([base.assign(hit=0.8), later]), day)[0] == pytest.approx(served_scales(base.assign(hit=0.8), day)[0])

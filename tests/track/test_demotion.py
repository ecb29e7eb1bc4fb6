"""A served version whose live record is significantly worse than the random walk is demoted by
the sensor, through onnx_model, to the random walk with a calibrated band, with its reason in the
version registry; a version that is not worse keeps its place. Real materializations, sensor and
registry on replay prices."""

from datetime import date

import dagster as dg
import pytest

from stock_assets.deploy.sensors import register_served
from stock_assets.export.assets import model_repository, onnx_model
from stock_assets.export.triton_repository import publish
from stock_assets.export.gate import RANDOM_WALK
from stock_assets.export.onnx_export import export_onnx
from stock_assets.ingest.assets import raw_prices
from stock_assets.ingest.prices import ReplayPriceSource
from stock_assets.settings import local_home
from stock_assets.model.checkpoints import BEST, save_checkpoint
from stock_assets.model.network import build_model
from stock_assets.model.panel import save_panel
from stock_assets.track import registry
from stock_assets.track.assets import forecast_scores, served_forecasts
from stock_assets.track.resources import ServedModelResource
from stock_assets.track.sensors import DEMOTION_SESSIONS, demotion_sensor
from stock_assets.training.assets import checkpoint_root, panel_root
from stock_assets.training.windows import build_panel
from tests.conftest import lake_resources, materialize_range
from tests.export.test_onnx_model import worse_model
from tests.servers import free_port

pytestmark = pytest.mark.slow
SYMBOLS = ["AAPL", "MSFT", "GOOG", "JPM", "XOM", "GE", "KO", "PFE"]
D = 16


def served_for_a_quarter(home, model, instance):
    """`model` served from 2014-06-02 (data until 2014-05-30) and scored until 2014-09-12."""
    resources = lake_resources(home / "lake", price={"symbols": SYMBOLS})
    assert materialize_range([raw_prices], resources, "2014-01-01", "2014-09-30").success
    prices = ReplayPriceSource(resources["price_source"].replay_dir).fetch(SYMBOLS, date(2014, 1, 1), date(2014, 10, 1))
    save_panel(panel_root(), build_panel(prices, [], news_dim=D, validation_sessions=20, test_sessions=40))
    export_onnx(model.eval(), home / "v1.onnx")
    assert publish(model_repository(), home / "v1.onnx", D) == 1
    registry.register(local_home(), 1, home / "v1.onnx", watermark="2014-05-30", data_until="2014-05-30", network="news network")
    resources["served_model"] = ServedModelResource(triton_url=f"http://127.0.0.1:{free_port()}")
    assert materialize_range([served_forecasts], resources, "2014-06-02", "2014-08-29", instance=instance).success
    assert materialize_range([forecast_scores], resources, "2014-06-03", "2014-09-12", instance=instance).success
    save_checkpoint({"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 1, "watermark": "2014-05-30"},
                    checkpoint_root() / BEST)


def test_a_losing_version_is_demoted_with_its_reason_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        served_for_a_quarter(tmp_path, worse_model(seed=3, news_dim=D), instance)
        requests = list(demotion_sensor(dg.build_sensor_context(instance=instance)))
        assert len(requests) == 1 and isinstance(requests[0], dg.RunRequest), requests
        reason = requests[0].run_config["ops"]["onnx_model"]["config"]["demote_reason"]
        assert reason.startswith("v1's live record over") and "one-sided DM p =" in reason
        assert int(reason.split(" over ")[1].split()[0]) >= DEMOTION_SESSIONS
        result = dg.materialize([onnx_model], run_config=requests[0].run_config, instance=instance)
        assert result.success
        meta = result.get_asset_materialization_events()[0].materialization.metadata
        assert meta["published"].value and meta["served_network"].value == RANDOM_WALK
        assert meta["version"].value == 2
        entry = register_served(2)  # what the deploy job records
        assert entry.network == RANDOM_WALK and "demoted: v1's live record" in entry.reason
        assert entry.served_from == "2014-10-01"  # the session after the data in the lake
        # the new version is the random walk: nothing more to demote
        later = list(demotion_sensor(dg.build_sensor_context(instance=instance)))
        assert all(isinstance(r, dg.SkipReason) for r in later)


def test_a_version_that_is_not_worse_keeps_its_place(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        served_for_a_quarter(tmp_path, build_model("small", news_dim=D), instance)  # untrained: the random walk's forecasts
        requests = list(demotion_sensor(dg.build_sensor_context(instance=instance)))
        assert len(requests) == 1 and isinstance(requests[0], dg.SkipReason) and "keeps its place" in requests[0].skip_message

"""onnx_model: export, parity on real and random batches, versioned Triton repository."""

import json
from datetime import date

import dagster as dg
import numpy as np
import pytest
import torch

from stock_assets.export.assets import model_repository, onnx_model, real_batches
from stock_assets.export.onnx_export import export_onnx, onnx_session, parity, random_batch
from stock_assets.export.triton_repository import parse_config, publish, versions
from stock_assets.ingest.prices import ReplayPriceSource
from stock_assets.model.checkpoints import BEST, save_checkpoint
from stock_assets.model.network import build_model
from stock_assets.model.panel import save_panel
from stock_assets.training.assets import checkpoint_root, panel_root
from stock_assets.training.windows import build_panel
from tests.training.test_windows import news_day

D = 768


@pytest.fixture
def trained_home(tmp_path, monkeypatch, replay_dir):
    """A STOCK_HOME with a panel built from replay prices and a (seed-shaped, small) checkpoint."""
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    prices = ReplayPriceSource(replay_dir).fetch(["AAPL", "MSFT"], date(2014, 1, 1), date(2015, 1, 1))
    vector = list(np.random.default_rng(0).standard_normal(D))
    save_panel(panel_root(), build_panel(prices, [news_day([("AAPL", "2014-11-20 10:00", vector)])]))
    model = build_model("small", news_dim=D)
    save_checkpoint(
        {"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 3, "watermark": "2014-12-31"},
        checkpoint_root() / BEST,
    )
    return model.eval()


def metadata(result):
    event = result.get_asset_materialization_events()[0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_parity_on_real_and_random_batches_of_1_8_64(trained_home, tmp_path):
    model = trained_home
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    session = onnx_session(path)
    real = real_batches(D)
    assert [len(p) for p, _ in real] == [1, 8, 64]
    for batches in (real, [random_batch(n, D, seed=n) for n in (1, 8, 64)]):
        errors = parity(model, session, batches)
        assert errors["max_abs_error_relative"] < 1e-4
        for price, news in batches:  # real replay windows and random ones: p10 <= p50 <= p90
            _, quantiles = session.run(None, {"price_input": price, "news_input": news})
            assert (np.diff(quantiles, axis=-1) >= 0).all()


def test_a_version_is_published_once_and_not_again_when_nothing_changed(trained_home):
    first = dg.materialize([onnx_model])
    assert first.success and all(c.passed for c in first.get_asset_check_evaluations())
    meta = metadata(first)
    assert meta["version"] == 1 and meta["published"] and meta["opset"] == 17 and meta["real_batches"] == 3
    assert meta["max_abs_error_relative"] < 1e-4 and meta["file_bytes"] > 10_000
    assert meta["served_network"] == "random walk"  # untrained: no evidence of skill
    assert meta["gate"].startswith("Selection figures")
    repo = model_repository()
    config = parse_config((repo / "config.pbtxt").read_text())
    assert config.name == "stock_predictor" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 64
    assert [(i.name, list(i.dims)) for i in config.input] == [("price_input", [30, 1]), ("news_input", [30, D])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("forecast", [5]), ("forecast_quantiles", [5, 3])]
    assert config.HasField("dynamic_batching")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(repo / "1" / "model.onnx"))
    assert [i.shape for i in sess.get_inputs()] == [["batch", 30, 1], ["batch", 30, D]]
    assert [o.shape for o in sess.get_outputs()] == [["batch", 5], ["batch", 5, 3]]
    props = sess.get_modelmeta().custom_metadata_map
    evaluation = json.loads(props["evaluation"])
    assert evaluation["skill"] == 0.0 and evaluation["figure"] == "selection (gate windows)" and props["served_network"] == "random walk"
    # the same checkpoint again: the same forecasts, so no new version (and no redeploy); the gate passes
    second = dg.materialize([onnx_model])
    assert second.success and all(c.passed for c in second.get_asset_check_evaluations())
    meta = metadata(second)
    assert meta["published"] is False and meta["version"] == -1 and meta["served_version"] == 1
    assert "unchanged: the challenger serves the same forecasts as version 1" in meta["decision"]
    assert sorted(p.name for p in repo.iterdir()) == ["1", "config.pbtxt"]
    forced = dg.materialize([onnx_model], run_config={"ops": {"onnx_model": {"config": {"publish_unchanged": True, "keep_versions": 1}}}})
    assert metadata(forced)["version"] == 2 and "published anyway (publish_unchanged)" in metadata(forced)["decision"]
    assert sorted(p.name for p in repo.iterdir()) == ["2", "config.pbtxt"]


def test_a_model_failing_parity_is_never_published(trained_home):
    result = dg.materialize(
        [onnx_model], run_config={"ops": {"onnx_model": {"config": {"parity_limit": 0.0}}}}, raise_on_error=False
    )
    assert not result.success  # the blocking check fails the run: nothing downstream runs
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert metadata(result)["published"] is False and metadata(result)["version"] == -1
    assert not model_repository().exists() or not any(p.name.isdigit() for p in model_repository().iterdir())


def worse_model(seed: int = 0, news_dim: int = D):
    """A challenger that moves the forecast at random: worse than the random walk."""
    model = build_model("small", news_dim=news_dim)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.head[-1].weight.copy_(torch.randn(model.head[-1].weight.shape, generator=g))
        model.head[-1].bias.copy_(torch.randn(5, generator=g))
        model.shrinkage.fill_(1.0)
    return model


def save_best(model):
    save_checkpoint({"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 1, "watermark": "2014-12-31"},
                    checkpoint_root() / BEST)


def test_the_gate_refuses_windows_a_candidate_was_fitted_on(trained_home):
    # a checkpoint whose validation reached into the panel's test period: the gate windows are not
    # unseen, so the blocking check fails and nothing is published (no fallback to other windows)
    state = {"model_config": trained_home.config.to_dict(), "model_state": trained_home.state_dict(), "epoch": 1,
             "watermark": "2014-12-31", "fitted": {"training": "2014-08-01", "validation": "2014-11-28"}}
    save_checkpoint(state, checkpoint_root() / BEST)
    result = dg.materialize([onnx_model], raise_on_error=False)
    assert not result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["gate_windows_unseen"].passed and checks["gate_windows_unseen"].severity == dg.AssetCheckSeverity.ERROR
    meta = metadata(result)
    assert meta["published"] is False and "refused:" in meta["gate_windows"] and "up to 2014-11-28" in meta["gate_windows"]
    assert not model_repository().exists() or versions(model_repository()) == []


def test_the_price_only_network_is_a_candidate_when_it_shares_the_data(trained_home):
    state = {"model_config": trained_home.config.to_dict(), "model_state": trained_home.state_dict(), "epoch": 1,
             "watermark": "2014-12-31", "data": {"watermark": "2014-12-31", "validation_start": "x"}}
    save_checkpoint(state, checkpoint_root() / BEST)
    price = build_model("small", news_dim=D, use_news=False)
    price_state = {"model_config": price.config.to_dict(), "model_state": price.state_dict(), "epoch": 1, "watermark": "2014-12-31"}
    save_checkpoint({**price_state, "data": {"other": 1}}, checkpoint_root() / "price_only" / BEST)
    meta = metadata(dg.materialize([onnx_model]))
    assert "trained on other data" in meta["price_only"] and "| price-only network |" not in meta["gate"]
    save_checkpoint({**price_state, "data": state["data"]}, checkpoint_root() / "price_only" / BEST)
    meta = metadata(dg.materialize([onnx_model]))
    assert meta["price_only"] == "compared" and "| price-only network |" in meta["gate"] and "| news network |" in meta["gate"]


def test_with_nothing_served_a_worse_challenger_is_published_as_the_random_walk(trained_home):
    save_best(worse_model(seed=2))
    result = dg.materialize([onnx_model])
    meta = metadata(result)
    assert result.success and meta["published"] and meta["version"] == 1
    assert meta["gate_skill"] == 0.0 and meta["served_network"] == "random walk"
    assert meta["decision"].startswith("random walk: no evidence of skill: news network vs random walk p = ")
    import onnxruntime as ort

    price, news = random_batch(8, D, seed=3)
    forecast, quantiles = ort.InferenceSession(str(model_repository() / "1" / "model.onnx")).run(
        None, {"price_input": price, "news_input": news})
    np.testing.assert_allclose(forecast, np.repeat(price[:, -1], 5, axis=1), rtol=1e-6)  # the last close
    assert (quantiles[..., 0] < forecast).all() and (forecast < quantiles[..., 2]).all()


def test_a_challenger_better_than_the_served_version_is_published(trained_home):
    # a version published before the gate existed, worse than the random walk
    bad = checkpoint_root().parent / "bad.onnx"
    export_onnx(worse_model(seed=1).eval(), bad)
    publish(model_repository(), bad, D)
    result = dg.materialize([onnx_model])  # the untrained random walk challenges it
    meta = metadata(result)
    assert result.success and meta["published"] and meta["version"] == 2
    assert meta["gate_skill"] == 0.0 and "replaces version 1" in meta["decision"]
    assert "| served version 1 | -" in meta["gate"] and "| random walk | +0.000% |" in meta["gate"]
    assert versions(model_repository()) == [1, 2]


def test_config_parse_rejects_a_bad_config():
    with pytest.raises(ValueError, match="does not parse as a Triton ModelConfig"):
        parse_config('name: "x"\nmax_batch_size: "many"\n')

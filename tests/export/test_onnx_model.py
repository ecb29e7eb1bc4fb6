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


def test_materializations_publish_new_versions_with_a_valid_config(trained_home):
    first = dg.materialize([onnx_model])
    assert first.success and first.get_asset_check_evaluations()[0].passed
    meta = metadata(first)
    assert meta["version"] == 1 and meta["published"] and meta["opset"] == 17 and meta["real_batches"] == 3
    assert meta["max_abs_error_relative"] < 1e-4 and meta["file_bytes"] > 10_000
    repo = model_repository()
    config = parse_config((repo / "config.pbtxt").read_text())
    assert config.name == "stock_predictor" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 64
    assert [(i.name, list(i.dims)) for i in config.input] == [("price_input", [30, 1]), ("news_input", [30, D])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("forecast", [5]), ("forecast_quantiles", [5, 3])]
    assert config.HasField("dynamic_batching")
    second = dg.materialize([onnx_model], run_config={"ops": {"onnx_model": {"config": {"keep_versions": 1}}}})
    assert metadata(second)["version"] == 2
    assert sorted(p.name for p in repo.iterdir()) == ["2", "config.pbtxt"]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(repo / "2" / "model.onnx"))
    assert [i.shape for i in sess.get_inputs()] == [["batch", 30, 1], ["batch", 30, D]]
    assert [o.shape for o in sess.get_outputs()] == [["batch", 5], ["batch", 5, 3]]
    props = sess.get_modelmeta().custom_metadata_map
    assert "max_abs_error_relative" in props and json.loads(props["evaluation"])["skill"] == 0.0  # untrained: the random walk


def test_a_model_failing_parity_is_never_published(trained_home):
    result = dg.materialize(
        [onnx_model], run_config={"ops": {"onnx_model": {"config": {"parity_limit": 0.0}}}}, raise_on_error=False
    )
    assert not result.success  # the blocking check fails the run: nothing downstream runs
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert metadata(result)["published"] is False and metadata(result)["version"] == -1
    assert not model_repository().exists() or not any(p.name.isdigit() for p in model_repository().iterdir())


def worse_model(seed: int = 0):
    """A challenger that moves the forecast at random: worse than the random walk."""
    model = build_model("small", news_dim=D)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.head[-1].weight.copy_(torch.randn(model.head[-1].weight.shape, generator=g))
        model.head[-1].bias.copy_(torch.randn(5, generator=g))
        model.shrinkage.fill_(1.0)
    return model


def save_best(model):
    save_checkpoint({"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 1, "watermark": "2014-12-31"},
                    checkpoint_root() / BEST)


def test_a_worse_challenger_is_not_published_and_the_served_version_stays(trained_home):
    assert metadata(dg.materialize([onnx_model]))["version"] == 1  # the random walk is the champion
    save_best(worse_model())
    result = dg.materialize([onnx_model], raise_on_error=False)
    # keeping the champion is the gate working: the run succeeds, the check warns, nothing is published
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["onnx_parity"].passed and not checks["champion_challenger"].passed
    assert checks["champion_challenger"].severity == dg.AssetCheckSeverity.WARN
    meta = metadata(result)
    assert meta["published"] is False and meta["version"] == -1 and meta["served_version"] == 1
    assert meta["challenger_skill"] < 0 and meta["champion_skill"] == 0.0
    assert meta["decision"].startswith("kept version 1: challenger skill -")
    assert versions(model_repository()) == [1]


def test_with_nothing_served_a_worse_challenger_is_published_as_the_random_walk(trained_home):
    save_best(worse_model(seed=2))
    result = dg.materialize([onnx_model])
    meta = metadata(result)
    assert result.success and meta["published"] and meta["version"] == 1
    assert meta["challenger_skill"] == 0.0 and "with shrinkage 0, the random walk (as trained: -" in meta["decision"]
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
    assert meta["challenger_skill"] == 0.0 and meta["champion_skill"] < 0
    assert "| challenger | +0.00%" in meta["gate"]
    assert versions(model_repository()) == [1, 2]


def test_config_parse_rejects_a_bad_config():
    with pytest.raises(ValueError, match="does not parse as a Triton ModelConfig"):
        parse_config('name: "x"\nmax_batch_size: "many"\n')

"""Real DDP training (torchrun, 2 gloo processes) through the Dagster asset on replay data,
resume, and recovery from a SIGKILL mid-training."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from stock_assets.export.assets import onnx_model
from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.model.checkpoints import BEST, LATEST, load_checkpoint, weights_finite
from stock_assets.news.assets import news_embeddings
from stock_assets.news.resources import EmbedderResource
from stock_assets.training.assets import model_checkpoint, training_windows
from stock_assets.training.checks import beats_random_walk, finite_weights
from stock_assets.training.launchers import LocalTorchrunLauncher
from tests.conftest import lake_resources, materialize_range
from tests.servers import default_signals

pytestmark = pytest.mark.slow
UPSTREAM = [raw_prices, raw_news, news_embeddings]
TRAINING = [training_windows, model_checkpoint]


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCK_HOME", str(root))
        resources = lake_resources(root / "lake", price={"symbols": ["AAPL", "MSFT"]}, news={"symbols": ["AAPL", "MSFT"]})
        resources["embedder"] = EmbedderResource(model=str(tiny_bert), cache_path=str(root / "cache.sqlite"))
        resources["trainer"] = LocalTorchrunLauncher(processes=2)
        assert materialize_range(UPSTREAM, resources, "2014-01-01", "2014-09-30").success
        yield root, resources


# months of history, not years: shorter held-out periods than production's 63 + 93 sessions
SPLITS = {"validation_sessions": 30, "test_sessions": 45}


def train(resources, instance=None, windows: dict | None = None, **config):
    config = {"epochs": 2, "size": "tiny", "ablation": False, "batch_size": 32, **config}
    return dg.materialize(
        [*TRAINING, *UPSTREAM, finite_weights, beats_random_walk],
        selection=TRAINING,
        resources=resources,
        instance=instance,
        run_config={"ops": {"model_checkpoint": {"config": config}, "training_windows": {"config": windows or SPLITS}}},
    )


def model_metadata(result):
    event = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["model_checkpoint"]][-1]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_ddp_training_through_dagster_then_resume_with_new_data(home):
    root, resources = home
    first = train(resources, resume=False, ablation=True)
    assert first.success
    meta = model_metadata(first)
    assert meta["processes"] == 2 and meta["ranks_identical"] is True
    assert meta["mae_model"] > 0 and meta["mae_random_walk"] > 0 and meta["mae_price_only"] > 0
    assert "random walk" in meta["evaluation"] and "| 1 |" in meta["loss_curve"]
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert checks["finite_weights"].passed and "beats_random_walk" in checks
    best = load_checkpoint(root / "checkpoints" / BEST)
    assert weights_finite(best["model_state"]) and best["watermark"] == "2014-09-30"
    assert (root / "checkpoints" / "price_only" / BEST).exists()

    # the same data again: nothing to learn, no epoch runs (and nothing new gets published)
    second = train(resources, epochs=1)
    assert second.success
    assert [h["epoch"] for h in load_checkpoint(root / "checkpoints" / LATEST)["history"]] == [0, 1]
    assert "already trained on this data" in model_metadata(second)["start"]

    # new partitions arrive: the splits move forward, the watermark advances and training resumes
    assert materialize_range(UPSTREAM, resources, "2014-10-01", "2014-10-31").success
    third = train(resources, epochs=1)
    assert third.success
    latest = load_checkpoint(root / "checkpoints" / LATEST)
    assert latest["watermark"] == "2014-10-31" and latest["history"][-1]["epoch"] == 2
    meta = model_metadata(third)
    assert meta["watermark"] == "2014-10-31" and meta["start"].startswith("resumed from epoch 1")
    assert meta["validation_start"] > model_metadata(first)["validation_start"]


@pytest.fixture(scope="module")
def recent_home(tmp_path_factory, tiny_bert):
    """Prices and news from 2014-04 only: older history arrives later, as a backfill."""
    root = tmp_path_factory.mktemp("recent")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCK_HOME", str(root))
        resources = lake_resources(root / "lake", price={"symbols": ["AAPL", "MSFT"]}, news={"symbols": ["AAPL", "MSFT"]})
        resources["embedder"] = EmbedderResource(model=str(tiny_bert), cache_path=str(root / "cache.sqlite"))
        resources["trainer"] = LocalTorchrunLauncher(processes=2)
        assert materialize_range(UPSTREAM, resources, "2014-04-01", "2014-09-30").success
        yield root, resources


def test_an_older_backfill_moves_no_split_and_the_gate_windows_stay_unseen(recent_home):
    root, resources = recent_home
    first = model_metadata(train(resources, resume=False, epochs=1, ablation=True))
    # older history arrives (the case that used to slide validation/test back into fitted days)
    assert materialize_range(UPSTREAM, resources, "2014-01-01", "2014-03-31").success
    again = train(resources, epochs=1, ablation=True)
    second = model_metadata(again)
    assert (second["validation_start"], second["test_start"]) == (first["validation_start"], first["test_start"])
    assert second["start"].startswith("resumed from epoch 0")  # sound: its training ended before this validation
    state = load_checkpoint(root / "checkpoints" / BEST)
    assert state["splits"]["test_start"] == first["test_start"] and state["fitted"]["validation"] < first["test_start"]
    exported = dg.materialize([onnx_model])
    checks = {c.check_name: c for c in exported.get_asset_check_evaluations()}
    assert exported.success and checks["gate_windows_unseen"].passed
    gate = {k: v.value for k, v in exported.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert "after every fitted day" in gate["gate_windows"] and gate["price_only"] == "compared"

    # split dates moved back by hand: the checkpoint's training reached into the new validation
    # period, so it is not resumed, and the run says why
    moved = model_metadata(train(resources, epochs=1, windows={"validation_start": "2014-05-01", "test_start": "2014-07-01"}))
    assert moved["start"].startswith("from scratch:") and "not resumed because" in moved["start"]
    assert moved["validation_start"] == "2014-05-01" and moved["fitted_until"] < "2014-07-01"
    assert dg.materialize([onnx_model]).success


def test_sigkill_mid_training_leaves_a_loadable_checkpoint(home, tmp_path):
    root, resources = home
    assert train(resources, resume=False, epochs=1).success  # the panel exists
    folder = tmp_path / "checkpoints"
    data = ["--panel", str(root / "lake" / "training_windows"), "--checkpoints", str(folder), "--size", "small"]
    command = LocalTorchrunLauncher(processes=2).command([*data, "--epochs", "500", "--patience", "500", "--batch-size", "16"])
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=default_signals, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (folder / LATEST).exists() or load_checkpoint(folder / LATEST)["epoch"] < 1:
            assert proc.poll() is None and time.monotonic() < deadline, "training ended or stalled"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the workers die with the launcher instead of training on as orphans
    def survivors():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline:
                found.append(pid)
        return found

    deadline = time.monotonic() + 10
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors() == []
    killed_at = load_checkpoint(folder / LATEST)["epoch"]  # loadable: never a torn file
    resumed = subprocess.run(
        [sys.executable, "-m", "stock_assets.model.train", *data, "--epochs", "1", "--resume"],
        capture_output=True, text=True, timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from epoch {killed_at}" in resumed.stdout
    assert load_checkpoint(folder / LATEST)["epoch"] == killed_at + 1

"""STOCK_HOME on an object store end to end (moto's S3 server over HTTP, shared state on a real
PostgreSQL): the lake, the embedding cache, the training panel the trainer reads (torchrun, 2
processes) and the checkpoints it writes, the Triton model repository, the version registry, the
local Triton synced from it, and the chatbot API reading the served evaluation, all through one
URL. Local files are only what needs a file system (STOCK_LOCAL_HOME)."""

import os

import dagster as dg
import httpx
import pytest

from stock_assets.deploy.sensors import register_served
from stock_assets.export.assets import model_repository, onnx_model
from stock_assets.export.triton_repository import versions
from stock_assets.news.resources import EmbedderResource
from stock_assets.settings import DEFAULT_STOCK_HOME, local_home, stock_home
from stock_assets.track import registry
from stock_assets.training.launchers import LocalTorchrunLauncher
from stock_serving.service import ServingConfig, ServingState
from stock_serving.triton_local.repository import MODEL_NAME, sync_from_settings
from tests.conftest import REPO, lake_resources, materialize_range
from tests.servers import free_port, running, wait_until
from tests.training.test_training import UPSTREAM, model_metadata, train

pytestmark = pytest.mark.slow
SYMBOLS = ["AAPL", "MSFT"]


def test_everything_the_platform_writes_lives_under_one_object_store_url(tmp_path, monkeypatch, s3_home, database_url,
                                                                         tiny_bert):
    local, workdir = tmp_path / "local", tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # where a relative default (./.stock_home) would land
    monkeypatch.setenv("STOCK_HOME", s3_home)
    monkeypatch.setenv("STOCK_LOCAL_HOME", str(local))
    monkeypatch.setenv("STOCK_DATABASE_URL", database_url)
    assert str(stock_home()) == s3_home and local_home() == local
    resources = lake_resources(f"{s3_home}/lake", price={"symbols": SYMBOLS}, news={"symbols": SYMBOLS})
    resources["embedder"] = EmbedderResource(model=str(tiny_bert))
    resources["trainer"] = LocalTorchrunLauncher(processes=2)
    assert materialize_range(UPSTREAM, resources, "2014-01-01", "2014-09-30").success
    trained = model_metadata(train(resources, epochs=1))
    assert trained["checkpoint"].startswith(s3_home)

    published = dg.materialize([onnx_model])
    assert published.success
    assert versions(model_repository()) == [1]
    entry = register_served(1)  # what the deploy job does once Triton serves it

    home = stock_home()
    for stored in ("lake/raw_prices/2014-03-03.parquet", "lake/news_embeddings/2014-03-03.parquet",
                   "lake/training_windows/CURRENT", "checkpoints/checkpoint_best.pt", "checkpoints/checkpoint_latest.pt",
                   f"models/{MODEL_NAME}/config.pbtxt", f"models/{MODEL_NAME}/1/model.onnx",
                   "track/versions.json", "track/models/1.onnx"):
        assert (home / stored).exists(), stored
    assert [e.version for e in registry.load(home)] == [1] and entry.served_from > "2014-09-30"
    # locally only what needs a file system: the panel's mapped copy, caches; no lake, no model
    assert not list(local.rglob("*.parquet")) and not list(local.rglob("*.pt")) and not (workdir / DEFAULT_STOCK_HOME).exists()

    # the local Triton serves the repository synced from the object store; the API reads the
    # served evaluation from there too
    assert sync_from_settings() == [1]
    synced = local / "triton_local" / "repository" / MODEL_NAME / "1" / "model.onnx"
    assert synced.read_bytes() == (model_repository() / "1" / "model.onnx").read_bytes()
    http_port = free_port()
    command = [str(REPO / ".venv-triton" / "bin" / "python"), "-m", "stock_serving.triton_local.serve", "--load",
               "--http-port", str(http_port), "--grpc-port", str(free_port())]
    with running(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}):
        url = f"http://127.0.0.1:{http_port}"
        wait_until(lambda: httpx.get(f"{url}/v2/models/{MODEL_NAME}/versions/1/ready").status_code == 200, 120, "triton")
        monkeypatch.setenv("TRITON_URL", url)
        state = ServingState(ServingConfig.from_env())
        assert state.model_version == "1" and state.symbols == SYMBOLS
        answer = state.forecast("AAPL")
    assert answer["model_skill"] is not None and answer["model_skill"]["served_network"]  # read from s3://
    assert answer["track_record"]["served_from"] == entry.served_from

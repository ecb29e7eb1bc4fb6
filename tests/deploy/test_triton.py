"""A real Triton (the tritonserver bundled in nvidia-pytriton, Python backend running onnxruntime
on the same model.onnx) started by the test; the deploy sensor and job load new versions."""

import os

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from stock_assets.deploy.resources import TritonDeployer
from stock_assets.deploy.sensors import deploy_triton_job, triton_deploy_sensor
from stock_assets.export.assets import model_repository, onnx_model
from stock_assets.export.onnx_export import onnx_session, random_batch
from stock_assets.settings import local_home
from stock_assets.lake import LakeIOManager, LakeResource
from stock_assets.model.panel import load_panel
from stock_assets.track import registry
from stock_assets.track.assets import served_forecasts
from stock_assets.track.forecasts import day_inputs
from stock_assets.track.resources import ServedModelResource
from stock_assets.training.assets import panel_root
from stock_assets.export.triton_client import TritonForecaster
from tests.conftest import REPO
from tests.export.test_onnx_model import save_best, trained_home, worse_model  # noqa: F401 - fixture
from tests.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow
TRITON_PYTHON = REPO / ".venv-triton" / "bin" / "python"


@pytest.fixture
def triton(trained_home, tmp_path):  # noqa: F811
    if not TRITON_PYTHON.exists():
        pytest.fail("the Triton venv is missing: run `make setup` (it installs .venv-triton)")
    with dg.instance_for_test() as instance:
        assert dg.materialize([onnx_model], instance=instance).success  # version 1
        http_port, grpc_port = free_port(), free_port()
        command = [str(TRITON_PYTHON), "-m", "stock_serving.triton_local.serve",
                   "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--load"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with running(command, env=env, cwd=REPO):
            url = f"http://127.0.0.1:{http_port}"
            wait_until(lambda: httpx.get(f"{url}/v2/models/stock_predictor/versions/1/ready").status_code == 200, 120, "triton")
            yield url, instance


def test_seed_request_and_client_parity(triton):
    url, _ = triton
    rng = np.random.default_rng(0)
    body = {  # the seed's example: random inputs, shapes [1,30,1] and [1,30,768], KServe v2 JSON
        "inputs": [
            {"name": "price_input", "shape": [1, 30, 1], "datatype": "FP32", "data": rng.random(30).tolist()},
            {"name": "news_input", "shape": [1, 30, 768], "datatype": "FP32", "data": rng.random(30 * 768).tolist()},
        ]
    }
    answer = httpx.post(f"{url}/v2/models/stock_predictor/infer", json=body, timeout=30)
    assert answer.status_code == 200
    output, quantiles = answer.json()["outputs"]
    assert output["name"] == "forecast" and output["shape"] == [1, 5] and np.isfinite(output["data"]).all()
    assert quantiles["name"] == "forecast_quantiles" and quantiles["shape"] == [1, 5, 3]
    bands = np.array(quantiles["data"]).reshape(5, 3)
    assert (bands[:, 0] <= bands[:, 1]).all() and (bands[:, 1] <= bands[:, 2]).all()

    client = TritonForecaster(url)
    assert client.ready() and client.model_version() == "1"
    session = onnx_session(model_repository() / "1" / "model.onnx")
    for batch in (1, 8, 64):
        price, news = random_batch(batch, 768, seed=batch)
        served = client.forecast(price, news)
        local = session.run(["forecast", "forecast_quantiles"], {"price_input": price, "news_input": news})
        for got, expected in zip(served, local):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_sensor_deploys_each_published_version_once(triton):
    url, instance = triton
    resources = {"triton": TritonDeployer(url=url)}
    context = dg.build_sensor_context(instance=instance, resources=resources)
    first = list(triton_deploy_sensor(context))
    assert [r.run_config["ops"]["deploy_model_to_triton"]["config"]["version"] for r in first] == [1]
    cursor = context.cursor

    # A new challenger: it falls back to the same random walk as version 1, so it is published only when asked.
    save_best(worse_model(seed=5))
    forced = {"publish_unchanged": True}
    assert dg.materialize([onnx_model], instance=instance,
                          run_config={"ops": {"onnx_model": {"config": forced}}}).success  # version 2
    failing = dg.materialize([onnx_model], instance=instance, raise_on_error=False,
                             run_config={"ops": {"onnx_model": {"config": {**forced, "parity_limit": 0.0}}}})
    assert not failing.success
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    requests = list(triton_deploy_sensor(context))
    assert [r.run_config["ops"]["deploy_model_to_triton"]["config"]["version"] for r in requests] == [2]  # the failing one never
    deployer = TritonDeployer(url=url, local_repository=str(local_home() / "triton_local" / "repository"))
    run = deploy_triton_job.execute_in_process(run_config=requests[0].run_config, resources={"triton": deployer}, instance=instance)
    assert run.success
    assert httpx.get(f"{url}/v2/models/stock_predictor/versions/2/ready").status_code == 200
    assert TritonForecaster(url).model_version() == "2"
    # the deploy registered it: it serves from the session after the panel's last (2014-12-31)
    assert [(e.version, e.served_from) for e in registry.load(local_home())] == [(2, "2015-01-02")]
    assert list(triton_deploy_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor, resources=resources))) == []


def test_loading_a_version_that_does_not_exist_fails_loudly(triton):
    url, _ = triton
    from stock_assets.deploy.resources import DeployError

    deployer = TritonDeployer(url=url, local_repository=str(local_home() / "triton_local" / "repository"))
    with pytest.raises(DeployError, match="version 7 is not in the model repository"):
        deployer.deploy(7)
    assert httpx.get(f"{url}/v2/models/stock_predictor/versions/1/ready").status_code == 200  # still serving


def test_a_broken_new_version_fails_the_deploy_and_the_old_one_keeps_serving(triton):
    url, _ = triton
    from stock_assets.deploy.resources import DeployError

    broken = model_repository() / "2"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    deployer = TritonDeployer(url=url, local_repository=str(local_home() / "triton_local" / "repository"), ready_timeout_s=60)
    with pytest.raises(DeployError):
        deployer.deploy(2)
    assert httpx.get(f"{url}/v2/models/stock_predictor/versions/1/ready").status_code == 200
    price, news = random_batch(1, 768, seed=1)
    assert [a.shape for a in TritonForecaster(url).forecast(price, news)] == [(1, 5), (1, 5, 3)]


def test_served_forecasts_store_what_triton_answers(triton):
    url, instance = triton
    home = local_home()
    registry.register(home, 1, model_repository() / "1" / "model.onnx", watermark="2014-10-31", data_until="2014-10-31", network="news")
    lake = LakeResource(base_url=str(home / "lake"))
    resources = {"lake": lake, "io_manager": LakeIOManager(lake=lake), "served_model": ServedModelResource(triton_url=url)}
    assert dg.materialize([served_forecasts], resources=resources, partition_key="2014-11-03", instance=instance).success
    stored = pd.read_parquet(home / "lake" / "served_forecasts" / "2014-11-03.parquet")
    assert set(stored["served_by"]) == {"triton"} and set(stored["model_version"]) == {1}
    symbols, price, news = day_inputs(load_panel(panel_root()), "2014-11-03")
    closes, quantiles = TritonForecaster(url).forecast(price, news, 1)
    order = stored.sort_values(["symbol", "horizon"])
    assert list(dict.fromkeys(order["symbol"])) == sorted(symbols)
    by_symbol = {s: i for i, s in enumerate(symbols)}
    rows = np.array([by_symbol[s] for s in order["symbol"]])
    horizons = order["horizon"].to_numpy() - 1
    np.testing.assert_array_equal(order["forecast"].to_numpy(np.float32), closes[rows, horizons])
    np.testing.assert_array_equal(order["raw_low"].to_numpy(np.float32), quantiles[rows, horizons, 0])
    np.testing.assert_array_equal(order["raw_high"].to_numpy(np.float32), quantiles[rows, horizons, 2])
    assert (order["interval_scale"] == 1.0).all()  # no record yet: the version's own interval
    np.testing.assert_allclose(order["low"].to_numpy(), quantiles[rows, horizons, 0], rtol=1e-6)

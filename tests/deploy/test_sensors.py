"""Deploy sensors on a laptop: with Triton not running they wait and say why, instead of
launching runs that fail."""

import dagster as dg
import pytest

from stock_assets.deploy.resources import DeployError, TritonDeployer
from stock_assets.deploy.sensors import triton_deploy_sensor

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens


def published(instance, version: int) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization("onnx_model", metadata={"published": True, "version": version}))


def test_triton_down_no_run_and_the_reason_names_the_url_and_the_fix():
    with dg.instance_for_test() as instance:
        published(instance, 1)
        context = dg.build_sensor_context(instance=instance, resources={"triton": TritonDeployer(url=DOWN)})
        (skip,) = list(triton_deploy_sensor(context))
        assert isinstance(skip, dg.SkipReason)
        assert f"Triton not reachable at {DOWN}" in skip.skip_message and "make triton" in skip.skip_message
        assert "TRITON_URL" in skip.skip_message
        assert context.cursor is None  # the version is deployed once Triton is up


def test_nothing_published_nothing_checked():
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"triton": TritonDeployer(url=DOWN)})
        assert list(triton_deploy_sensor(context)) == []


def test_the_deploy_job_error_says_the_same():
    with pytest.raises(DeployError, match=r"Triton not reachable at http://127.0.0.1:9: start it with `make triton`"):
        TritonDeployer(url=DOWN).deploy(1)

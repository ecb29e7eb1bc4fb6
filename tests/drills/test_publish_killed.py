"""Drill 3: onnx_model killed while publishing: at every step of the publication the repository is
one Triton can load (no half-written version, no version without its config), and the next run
publishes the next number, without a gap or a clash."""

import os

import httpx
import onnxruntime as ort
import pytest

from stock_assets.export.triton_repository import parse_config, versions
from tests.conftest import REPO
from tests.drills.conftest import run_job
from tests.export.test_onnx_model import trained_home  # noqa: F401 - fixture
from tests.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow
REPOSITORY = "stock_assets.export.triton_repository"
TRITON_PYTHON = REPO / ".venv-triton" / "bin" / "python"


def assert_loadable(model_dir):
    """What Triton reads: config.pbtxt parses and matches every version, each version is a
    complete model; hidden staging folders are all it could ignore."""
    config = parse_config((model_dir / "config.pbtxt").read_text())
    for version in versions(model_dir):
        session = ort.InferenceSession(str(model_dir / str(version) / "model.onnx"))
        assert [i.shape[1:] for i in session.get_inputs()] == [list(i.dims) for i in config.input]
        assert sorted(p.name for p in (model_dir / str(version)).iterdir()) == ["model.onnx"]


def test_publication_killed_at_each_step_leaves_a_loadable_repository(trained_home, tmp_path):  # noqa: F811
    home = tmp_path
    model_dir = home / "models" / "stock_predictor"
    first = run_job("publish", {}, STOCK_HOME=home)
    assert first.returncode == 0 and first.summary["version"] == 1, first.stderr

    expected = [1]
    # killed: after the config, after the rename, once the model is copied into staging (before
    # its fsync), after staging (each run removes the staging folders the dead ones left)
    for kill, appears in ((f"{REPOSITORY}:write_config:after:1", False), (f"{REPOSITORY}:move_into_place:after:1", True),
                          (f"{REPOSITORY}:shutil.copyfile:after:1", False), (f"{REPOSITORY}:stage_version:after:1", False)):
        killed = run_job("publish", {}, kill=kill, STOCK_HOME=home)
        assert killed.killed, (kill, killed.stderr)
        expected += [expected[-1] + 1] if appears else []
        assert versions(model_dir) == expected, kill
        assert_loadable(model_dir)
    assert [p.name.endswith(".staging") for p in model_dir.iterdir() if p.name.startswith(".")] == [True]  # the last one's

    after = run_job("publish", {}, STOCK_HOME=home)
    assert after.returncode == 0, after.stderr
    assert after.summary["version"] == expected[-1] + 1 == 3  # next number: no gap, no clash
    assert versions(model_dir) == [1, 2, 3]
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2", "3", "config.pbtxt"]  # dead leftovers removed
    assert_loadable(model_dir)

    # and a real Triton loads what the drills left, serving the newest version
    http_port = free_port()
    command = [str(TRITON_PYTHON), "-m", "stock_serving.triton_local.serve", "--http-port", str(http_port),
               "--grpc-port", str(free_port()), "--load"]
    with running(command, env={**os.environ, "PYTHONPATH": str(REPO), "STOCK_HOME": str(home)}, cwd=REPO):
        url = f"http://127.0.0.1:{http_port}"
        wait_until(lambda: httpx.get(f"{url}/v2/models/stock_predictor/versions/3/ready").status_code == 200, 120, "triton")


def test_two_publishers_at_once_get_distinct_numbers(tmp_path):
    """The rename onto a number another publisher took first fails and the next is tried."""
    import threading

    import numpy as np

    from stock_assets.export.triton_repository import publish

    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(np.random.default_rng(0).bytes(2_000_000))
    model_dir = tmp_path / "models" / "stock_predictor"
    got, start = [], threading.Barrier(4)

    def publisher():
        start.wait()
        got.append(publish(model_dir, onnx_file, news_dim=8, keep=10))

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == [1, 2, 3, 4] and versions(model_dir) == [1, 2, 3, 4]
    assert all((model_dir / str(v) / "model.onnx").read_bytes() == onnx_file.read_bytes() for v in got)

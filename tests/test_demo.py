"""`make demo`, the user's first command, end to end on the replay data; then again, incrementally."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def demo(env) -> str:
    make = shutil.which("make")
    result = subprocess.run([make, "--no-print-directory", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


def test_make_demo_twice(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCK_", "DAGSTER_HOME", "LLM_"))}
    env.update(STOCK_HOME=str(tmp_path / "home"), DEMO_START="2015-08-01", DEMO_EPOCHS="2", STOCK_ENV_FILE=str(tmp_path / "settings.env"))
    first = demo(env)
    assert len(first.splitlines()) < 120, first  # one line per step and what it found; the events are in the instance
    assert "Warning" not in first and "Telemetry" not in first
    assert "DEMO OK" in first and "served as stock_predictor v1" in first
    for step in ("1/7", "2/7", "3/7", "4/7", "5/7", "6/7", "7/7"):
        assert f"==> {step}" in first
    assert "| random walk |" in first and "| drift |" in first and "answer cites 3 headlines" in first
    # the served model is never worse than the random walk: the gate only publishes skill >= 0
    assert "Gate:        published: challenger skill +" in first
    # the settings the demo ran with are written for `make dev` and `make serve`
    settings = (tmp_path / "settings.env").read_text()
    assert "STOCK_PRICE_SOURCE=replay" in settings and f"STOCK_HOME={tmp_path / 'home'}" in settings
    assert "STOCK_EMBEDDER=minilm" in settings and "STOCK_START_DATE=2014-01-01" in settings
    second = demo(env)
    assert "embedded 0 new" in second and "resumed from epoch" in second
    gate = next(line for line in second.splitlines() if line.startswith("Gate:"))
    if "published" in gate:
        assert "challenger skill +" in gate and "served as stock_predictor v2" in second
    else:
        assert "kept version 1" in gate and "served as stock_predictor v1" in second

"""The project settings file: written by the demo, read by everything that starts later, with
the environment winning over the file and a user's own file never overwritten."""

import subprocess
import sys

from stock_assets.settings_file import DEMO_MARKER, load_project_settings, write_demo_settings
from tests.conftest import REPO


def test_demo_settings_round_trip_and_environment_precedence(tmp_path, monkeypatch):
    path = tmp_path / "project.env"
    monkeypatch.setenv("STOCK_ENV_FILE", str(path))
    written_to, written = write_demo_settings({"STOCK_SYMBOLS": "SPY,AAPL", "STOCK_EMBEDDER": "minilm",
                                               "FINNHUB_API_KEY": "secret-never-written", "STOCK_END_DATE": ""})
    assert written and written_to == path
    text = path.read_text()
    assert text.startswith(DEMO_MARKER) and "STOCK_SYMBOLS=SPY,AAPL" in text
    assert "secret-never-written" not in text and "STOCK_END_DATE" not in text
    monkeypatch.delenv("STOCK_SYMBOLS", raising=False)
    monkeypatch.setenv("STOCK_EMBEDDER", "ProsusAI/finbert")  # set in the environment: it wins
    assert load_project_settings() == path
    import os

    assert os.environ["STOCK_SYMBOLS"] == "SPY,AAPL" and os.environ["STOCK_EMBEDDER"] == "ProsusAI/finbert"
    # the demo rewrites its own file
    assert write_demo_settings({"STOCK_SYMBOLS": "MSFT"})[1] and "STOCK_SYMBOLS=MSFT" in path.read_text()


def test_a_users_own_settings_file_is_kept(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("STOCK_SYMBOLS=XOM\n")
    monkeypatch.setenv("STOCK_ENV_FILE", str(path))
    assert write_demo_settings({"STOCK_SYMBOLS": "SPY"}) == (path, False)
    assert path.read_text() == "STOCK_SYMBOLS=XOM\n"


def test_the_code_location_reads_the_file_at_import(tmp_path):
    path = tmp_path / ".env"
    path.write_text("STOCK_START_DATE=2014-03-01\nSTOCK_SYMBOLS=JPM,XOM\n")
    code = ("from stock_assets.definitions import defs; from stock_assets.partitions import daily_partitions_def as d; "
            "print(d.get_first_partition_key(), defs.resources['price_source'].symbols)")
    env = {"PATH": "/usr/bin:/bin", "STOCK_ENV_FILE": str(path), "STOCK_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2014-03-01", "['JPM',", "'XOM']"]


def test_dagster_commands_run_where_no_env_file_beats_the_environment(tmp_path, monkeypatch):
    """Dagster's CLI loads `.env` from its working directory over the environment; our launches run it
    from the instance folder, with the project file (absolute) and relative paths made absolute."""
    import os

    from stock_assets.instance import WORKSPACE, dagster_cli_options

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".env").write_text("STOCK_SYMBOLS=XOM\nSTOCK_REPLAY_DIR=replay\n")
    monkeypatch.chdir(checkout)
    env = {**os.environ, "STOCK_ENV_FILE": ".env", "STOCK_SYMBOLS": "JPM", "STOCK_HOME": "home"}
    options = dagster_cli_options(tmp_path / "dagster", env)
    assert options["cwd"] == tmp_path / "dagster" and options["env"]["DAGSTER_HOME"] == str(tmp_path / "dagster")
    assert options["env"]["STOCK_ENV_FILE"] == str(checkout / ".env") and options["env"]["STOCK_HOME"] == str(checkout / "home")
    assert options["env"]["STOCK_REPLAY_DIR"] == str(checkout / "replay") and options["env"]["STOCK_SYMBOLS"] == "JPM"
    validate = [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", str(WORKSPACE)]
    # the control: in the checkout, Dagster injects its .env (over STOCK_SYMBOLS=JPM)
    there = subprocess.run(validate, cwd=checkout, env=options["env"], capture_output=True, text=True, timeout=300)
    assert "Loaded environment variables from .env file: STOCK_SYMBOLS" in there.stderr + there.stdout
    ours = subprocess.run(validate, capture_output=True, text=True, timeout=300, **options)
    assert ours.returncode == 0 and "Validation successful" in ours.stdout + ours.stderr, ours.stderr[-2000:]
    assert "Loaded environment variables" not in ours.stdout + ours.stderr

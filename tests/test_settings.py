"""stock_assets/settings.py: the one place that decides where state lives."""

import subprocess
import sys

from stock_assets.settings import DEFAULT_STOCK_HOME, as_upath, exports, local_home, settings, stock_home
from tests.conftest import REPO


def test_the_environment_wins_over_the_settings_file_which_wins_over_the_defaults(tmp_path, monkeypatch):
    env_file = tmp_path / "settings.env"
    env_file.write_text("STOCK_HOME=s3://lake/prod\nSTOCK_DATABASE_URL=postgresql://u:pw@db:5432/dagster\n")
    monkeypatch.setenv("STOCK_ENV_FILE", str(env_file))
    monkeypatch.delenv("STOCK_HOME")
    monkeypatch.delenv("STOCK_DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCK_LOCAL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert str(stock_home()) == "s3://lake/prod" and settings().rate_bucket == "postgres"
    assert local_home() == tmp_path / DEFAULT_STOCK_HOME  # beside an object store: the local default
    monkeypatch.setenv("STOCK_HOME", "relative/home")
    assert stock_home().path == str(tmp_path / "relative" / "home") and local_home() == tmp_path / "relative" / "home"
    env_file.write_text("")
    monkeypatch.delenv("STOCK_HOME")
    assert stock_home().path == str(tmp_path / DEFAULT_STOCK_HOME) and settings().rate_bucket == "sqlite"


def test_s3_paths_carry_the_endpoint_and_never_cache_listings(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    path = as_upath("s3://lake/prod/models")
    assert path.storage_options["endpoint_url"] == "http://127.0.0.1:9000"
    assert path.storage_options["use_listings_cache"] is False


def test_exports_give_a_shell_absolute_paths_and_the_cli_hides_the_database_password(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCK_HOME", str(tmp_path / "home"))
    assert exports() == {"STOCK_HOME": str(tmp_path / "home"), "STOCK_LOCAL_HOME": str(tmp_path / "home"),
                         "DAGSTER_HOME": str(tmp_path / "home" / "dagster")}
    env = {"STOCK_HOME": "s3://lake/prod", "STOCK_LOCAL_HOME": str(tmp_path / "local"),
           "STOCK_DATABASE_URL": "postgresql://dagster:hunter2@db:5432/dagster", "STOCK_ENV_FILE": str(tmp_path / "none.env"),
           "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-m", "stock_assets.settings"], cwd=REPO, env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and "hunter2" not in shown.stdout and "STOCK_DATABASE_URL=(set)" in shown.stdout
    lines = subprocess.run([sys.executable, "-m", "stock_assets.settings", "exports"], cwd=REPO, env=env, capture_output=True,
                           text=True).stdout
    assert "export STOCK_HOME=s3://lake/prod" in lines and f"export DAGSTER_HOME={tmp_path / 'local' / 'dagster'}" in lines

"""The local Dagster instance: its settings (DAGSTER_HOME/dagster.yaml) when the user has none, what
`make demo`, `make dev` and `make backfill` run on one machine (the cluster's is k8s/dagster/dagster.yaml),
and how Dagster's own commands are started on it (from the instance folder, see dagster_cli_options)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from dotenv import dotenv_values

from stock_assets.settings import DEFAULT_STOCK_HOME, exports
from stock_assets.settings_file import settings_path

# Telemetry off (offline); two runs at once on a laptop; every pool one slot at a time (the
# embedded Chroma takes one writer, the Finnhub key one caller), as README's Backfills says.
LOCAL_INSTANCE = """telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    default_limit: 1
"""


def ensure_local_instance(dagster_home: str | Path) -> Path:
    """DAGSTER_HOME with a dagster.yaml: the user's when there is one, else LOCAL_INSTANCE."""
    home = Path(dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE)
    return config


REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO / "workspace.yaml"


def dagster_cli_options(dagster_home: str | Path, env: dict[str, str] | None = None) -> dict:
    """`cwd` and `env` for a Dagster command (dev, webserver, daemon, asset materialize, ...) run on
    the instance at `dagster_home`, with `-w WORKSPACE`.

    Dagster's CLI and every process it starts (code servers, run workers) load `.env` from their
    working directory *over* the environment (dagster._cli.utils._inject_local_env_file). Started
    in the checkout, the project settings file would beat the environment, and a test's or a
    second deployment's settings would lose to the user's. So they run in the instance folder,
    and the code location reads the project file itself (environment first), found through an
    absolute STOCK_ENV_FILE."""
    env = dict(os.environ if env is None else env)
    folder = Path(dagster_home).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    env["DAGSTER_HOME"] = str(folder)
    project_file = settings_path(env).resolve()
    env["STOCK_ENV_FILE"] = str(project_file)
    from_file = dotenv_values(project_file) if project_file.is_file() else {}
    # paths from the environment, the file or the default, meant from here: made absolute
    for name, default in (("STOCK_HOME", DEFAULT_STOCK_HOME), ("STOCK_LOCAL_HOME", DEFAULT_STOCK_HOME),
                          ("STOCK_REPLAY_DIR", "")):
        value = (env.get(name) or from_file.get(name) or default).strip()
        if value and "://" not in value:
            env[name] = str(Path(value).expanduser().resolve())
    return {"cwd": folder, "env": env}


def main(argv: list[str]) -> None:
    """`python -m stock_assets.instance dagster dev -w /abs/workspace.yaml ...`: a program of this
    venv on this machine's instance (DAGSTER_HOME, else the settings' one), from the instance folder,
    with default signal handling (a background shell leaves SIGINT/SIGTERM ignored)."""
    if not argv:
        sys.exit("usage: python -m stock_assets.instance PROGRAM [ARGS...]  (PROGRAM: dagster, dagster-webserver, dagster-daemon)")
    home = os.environ.get("DAGSTER_HOME") or exports()["DAGSTER_HOME"]
    ensure_local_instance(home)
    options = dagster_cli_options(home)
    program = str(Path(sys.executable).parent / argv[0])
    os.chdir(options["cwd"])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execve(program, [program, *argv[1:]], options["env"])


if __name__ == "__main__":
    main(sys.argv[1:])

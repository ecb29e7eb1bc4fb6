"""The project settings file (`.env`): read with python-dotenv, written by `make demo`.

Precedence: a variable set in the environment wins over the file, so `STOCK_SYMBOLS=... make dev`
still works; the file fills in the rest. The demo only (re)writes a file it wrote itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

DEMO_MARKER = "# written by `make demo`"
# Every variable of the README's configuration table that a later `make dev`/`make serve` needs.
CARRIED = ("STOCK_HOME", "STOCK_START_DATE", "STOCK_END_DATE", "STOCK_SYMBOLS", "STOCK_PRICE_SOURCE",
           "STOCK_NEWS_SOURCE", "STOCK_REPLAY_DIR", "STOCK_EMBEDDER", "STOCK_VALIDATION_SESSIONS", "STOCK_TEST_SESSIONS",
           "DAGSTER_HOME")


def settings_path(env: dict[str, str] | None = None) -> Path:
    """The project settings file: STOCK_ENV_FILE, else `.env` in the working directory."""
    return Path((os.environ if env is None else env).get("STOCK_ENV_FILE", "").strip() or ".env")


def load_project_settings() -> Path | None:
    path = settings_path()
    if not path.is_file():
        return None
    load_dotenv(path, override=False)
    return path


def write_demo_settings(values: dict[str, str]) -> tuple[Path, bool]:
    """Write the demo's settings unless the user keeps a settings file of their own.
    Returns (path, written)."""
    path = settings_path()
    if path.exists() and DEMO_MARKER not in path.read_text():
        return path, False
    secrets = {"FINNHUB_API_KEY", "CHATBOT_ADMIN_TOKEN"}  # never written to a file
    lines = [DEMO_MARKER + ": the settings the demo ran with; `make dev` and `make serve` read them.",
             "# Edit freely; delete this line to keep the demo from rewriting the file."]
    lines += [f"{key}={value}" for key, value in values.items() if key not in secrets and value]
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text("\n".join(lines) + "\n")
    os.replace(temp, path)
    return path, True

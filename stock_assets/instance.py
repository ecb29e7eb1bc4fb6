"""The local Dagster instance's settings (DAGSTER_HOME/dagster.yaml) when the user has none: what
`make demo`, `make dev` and `make backfill` run on one machine. The cluster's is k8s/dagster/dagster.yaml."""

from __future__ import annotations

from pathlib import Path

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

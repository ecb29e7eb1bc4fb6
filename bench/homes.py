"""Where each benchmark keeps its data: a folder of its own under the default STOCK_HOME of the
checkout (stock_assets.settings.DEFAULT_STOCK_HOME), unless STOCK_HOME is set in the environment."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_home(name: str) -> Path:
    """REPO/<default STOCK_HOME>/<name>. Importing stock_assets loads the project's .env, whose
    STOCK_HOME must not choose a benchmark's home: the environment's value is restored."""
    given = os.environ.get("STOCK_HOME")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from stock_assets.settings import DEFAULT_STOCK_HOME

    if given is None:
        os.environ.pop("STOCK_HOME", None)
    else:
        os.environ["STOCK_HOME"] = given
    return REPO / DEFAULT_STOCK_HOME / name

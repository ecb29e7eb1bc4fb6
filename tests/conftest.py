"""Shared fixtures. The partitions definition is built at import from the environment, so the
test range is set here before any project module is imported."""

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

os.environ["STOCK_START_DATE"] = "2014-01-01"
os.environ["STOCK_END_DATE"] = "2016-01-01"
# Tests never touch the user's STOCK_HOME or Dagster instance.
os.environ["STOCK_HOME"] = tempfile.mkdtemp(prefix="stock_home_")
os.environ["DAGSTER_HOME"] = os.path.join(os.environ["STOCK_HOME"], "dagster")
os.makedirs(os.environ["DAGSTER_HOME"])
os.environ.pop("FINNHUB_API_KEY", None)
# ...nor the developer's project settings file (.env): tests see only what they set.
os.environ["STOCK_ENV_FILE"] = os.path.join(os.environ["STOCK_HOME"], "settings.env")
warnings.filterwarnings("ignore", message=".*backfill_policy.*")

import dagster as dg  # noqa: E402
import pytest  # noqa: E402
from upath import UPath  # noqa: E402

from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource  # noqa: E402
from stock_assets.lake import LakeIOManager, LakeResource  # noqa: E402
from stock_assets.news.random_bert import save_random_bert  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REPLAY_DIR = REPO.parent / "shared" / "data" / "replay"
REPLAY_SYMBOLS = ["SPY", "AAPL", "MSFT", "GOOG"]


# The user's own settings and state in the checkout (what `make demo` wrote): no test may change them.
USER_STATE = (".env", ".stock_home")


def user_state_digest() -> dict[str, str]:
    """Every file of the checkout's .env and .stock_home/ with its size and SHA-256."""
    digest = {}
    for name in USER_STATE:
        root = REPO / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for path in files:
            with open(path, "rb") as handle:
                digest[str(path.relative_to(REPO))] = f"{path.stat().st_size}:{hashlib.file_digest(handle, 'sha256').hexdigest()}"
    return digest


def pytest_sessionstart(session):
    session.config.stash[USER_STATE_KEY] = user_state_digest()


def pytest_sessionfinish(session, exitstatus):
    """The suite checks itself: the user's files are byte for byte what they were before it ran."""
    before = session.config.stash.get(USER_STATE_KEY, None)
    if before is None:
        return
    after = user_state_digest()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if changed:
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"FAILED: the test run changed the user's settings or state in the checkout: {shown}"
        reporter.write_line(message, red=True) if reporter else print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


USER_STATE_KEY = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def replay_dir() -> Path:
    if not (REPLAY_DIR / "prices").is_dir():
        pytest.fail(f"the replay data set is missing at {REPLAY_DIR} (../shared beside the checkout)")
    return REPLAY_DIR


def lake_resources(lake_dir: Path | str, **sources) -> dict:
    """Resources for a run against the lake at `lake_dir`; `price`/`news` override source config."""
    lake = LakeResource(base_url=str(lake_dir))
    price = {"source": "replay", "symbols": REPLAY_SYMBOLS, "replay_dir": str(REPLAY_DIR)}
    news = {"source": "replay", "symbols": REPLAY_SYMBOLS, "replay_dir": str(REPLAY_DIR)}
    price.update(sources.get("price", {}))
    news.update(sources.get("news", {}))
    return {
        "lake": lake,
        "io_manager": LakeIOManager(lake=lake),
        "price_source": PriceSourceResource(**price),
        "news_source": NewsSourceResource(**news),
    }


def materialize_range(assets, resources, first: str, last: str, instance=None, raise_on_error=True):
    """One run over partitions first..last (inclusive), as a single-run backfill executes."""
    return dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        raise_on_error=raise_on_error,
    )


def lake_files(lake_dir: Path, asset: str) -> list[str]:
    folder = UPath(lake_dir) / asset
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A tiny BERT with FinBERT's 3-label sentiment head and a real WordPiece vocabulary."""
    return save_random_bert(tmp_path_factory.mktemp("models") / "tiny-finbert")

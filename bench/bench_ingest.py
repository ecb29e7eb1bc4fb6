"""Ingestion throughput: a single-run backfill against one run per day (the baseline a
multi-run backfill policy would give), and the cost of a daily increment.

Runs real Dagster materializations through a real (temporary, sqlite) instance.
    .venv/bin/python bench/bench_ingest.py [--source replay|synthetic] [--days 90]
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPLAY = REPO.parent / "shared" / "data" / "replay"
os.environ.setdefault("STOCK_START_DATE", "2008-01-01")
os.environ.setdefault("STOCK_END_DATE", "2018-01-01")
warnings.filterwarnings("ignore")
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from stock_assets.ingest.assets import raw_news, raw_prices  # noqa: E402
from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource  # noqa: E402
from stock_assets.lake import LakeIOManager, LakeResource  # noqa: E402


def resources(lake: Path, source: str, symbols: list[str]) -> dict:
    store = LakeResource(base_url=str(lake))
    replay = str(REPLAY) if source == "replay" else None
    return {
        "lake": store,
        "io_manager": LakeIOManager(lake=store),
        "price_source": PriceSourceResource(source=source, symbols=symbols, replay_dir=replay),
        "news_source": NewsSourceResource(source=source, symbols=symbols, replay_dir=replay, market_news=False),
    }


def run(instance, res, first: str, last: str) -> float:
    start = time.perf_counter()
    result = dg.materialize(
        [raw_prices, raw_news], resources=res, instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    assert result.success
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="replay", choices=["replay", "synthetic"])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--start", default="2014-01-01")
    parser.add_argument("--symbols", default="SPY,AAPL,MSFT,GOOG,AMZN,FB")
    args = parser.parse_args()
    symbols = args.symbols.split(",")
    first = date.fromisoformat(args.start)
    days = [first + timedelta(days=n) for n in range(args.days)]
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        single = run(instance, resources(Path(tmp) / "a", args.source, symbols), str(days[0]), str(days[-1]))
        per_day = sum(
            run(instance, resources(Path(tmp) / "b", args.source, symbols), str(d), str(d)) for d in days
        )
        nxt = str(days[-1] + timedelta(days=1))
        increments = [run(instance, resources(Path(tmp) / "a", args.source, symbols), nxt, nxt) for _ in range(3)]
    increment = sorted(increments)[1]
    print(f"source={args.source} symbols={len(symbols)} days={len(days)} ({days[0]}..{days[-1]})")
    print(f"single-run backfill (raw_prices + raw_news): {single:8.2f} s")
    print(f"one run per day (baseline):                  {per_day:8.2f} s")
    print(f"speed-up single-run vs per-day:              {per_day / single:8.1f} x")
    print(f"one-day increment (median of 3):             {increment:8.2f} s")


if __name__ == "__main__":
    main()

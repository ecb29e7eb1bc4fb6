"""A backfill of the whole replay universe (88 companies + SPY, 2014-2015) through a real Dagster
instance: news_embeddings + chroma_collection fanned out into runs of STOCK_EMBED_DAYS_PER_RUN days,
N at a time (queued run coordinator, `embedding` pool N, `chroma_writes` pool 1), against the
same backfill as ONE run (the baseline, same run of this script). Both are launched as the UI
launches them (`dagster dev`, GraphQL) on the same raw lake, each with its own empty embedding
cache; then the vectors and the Chroma counts per day are compared.

    .venv/bin/python bench/bench_backfill.py [--embedder minilm] [--days-per-run 20] [--concurrent 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from homes import bench_home  # noqa: E402

REPLAY = REPO.parent / "shared" / "data" / "replay"



def environment(home: Path, args, days_per_run: int) -> dict[str, str]:
    return {**os.environ, "STOCK_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "STOCK_REPLAY_DIR": str(REPLAY),
            "STOCK_PRICE_SOURCE": "replay", "STOCK_NEWS_SOURCE": "replay", "STOCK_SYMBOLS": args.symbols,
            "STOCK_START_DATE": args.start, "STOCK_END_DATE": args.end, "STOCK_EMBEDDER": args.embedder,
            "STOCK_EMBED_DAYS_PER_RUN": str(days_per_run), "PYTHONWARNINGS": "ignore"}


def vectors(lake: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(f, columns=["id", "embedding"]) for f in sorted((lake / "news_embeddings").rglob("*.parquet"))]
    return pd.concat(frames).sort_values("id").reset_index(drop=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--home", type=Path, default=bench_home("bench_backfill"))
    p.add_argument("--symbols", default=None, help="default: every symbol of the replay set")
    p.add_argument("--start", default="2014-01-01")
    p.add_argument("--end", default="2016-01-01", help="exclusive")
    p.add_argument("--embedder", default="minilm")
    p.add_argument("--days-per-run", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=2)
    args = p.parse_args()
    args.symbols = args.symbols or ",".join(sorted(p.stem for p in (REPLAY / "prices").glob("*.csv")))
    os.environ.update(environment(args.home / "raw", args, args.days_per_run))

    import dagster as dg

    from machine import cpu_flags
    from stock_assets.definitions import build_definitions
    from stock_assets.news.vector_store import NewsVectorStore, chroma_client
    from tests.backfills import dagster_dev, peak_concurrency, run_backfill

    shutil.rmtree(args.home, ignore_errors=True)
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(args.start, args.end, inclusive="left")]
    defs = build_definitions()
    raw = [defs.get_assets_def("raw_prices"), defs.get_assets_def("raw_news")]
    started = time.perf_counter()
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    assert dg.materialize(raw, resources=dict(defs.resources), tags=tags).success
    print(f"# {len(args.symbols.split(','))} symbols, {len(days)} days; {os.cpu_count()} cores ({cpu_flags()}); embedder {args.embedder}")
    print(f"raw ingest (one run): {time.perf_counter() - started:.1f} s")

    results = {}
    for name, days_per_run, concurrent in (("single run", len(days), 1), ("fanned out", args.days_per_run, args.concurrent)):
        home = args.home / name.replace(" ", "_")
        shutil.copytree(args.home / "raw" / "lake", home / "lake")
        env = environment(home, args, days_per_run)
        started = time.perf_counter()
        with dagster_dev(env, max_concurrent_runs=concurrent, pool_limits={"embedding": concurrent, "chroma_writes": 1}) as port:
            status, runs = run_backfill(port, ["news_embeddings", "chroma_collection"], days, timeout=4 * 3600)
        wall = time.perf_counter() - started
        store = NewsVectorStore(chroma_client(path=home / "chromadb"))
        results[name] = {"home": home, "wall": wall, "runs": runs, "counts": store.count_by_day(days)}
        print(f"{name}: {status}, {len(runs)} runs (peak {peak_concurrency(runs)} at once), wall {wall:.0f} s "
              f"(dagster dev start included), Chroma {store.collection.count()} records")

    single, fanned = (vectors(results[n]["home"] / "lake") for n in ("single run", "fanned out"))
    same_ids = single["id"].tolist() == fanned["id"].tolist()
    duplicates = int(fanned["id"].duplicated().sum())
    max_diff = float(np.abs(np.stack(single["embedding"]) - np.stack(fanned["embedding"])).max()) if same_ids else float("nan")
    counts_equal = results["single run"]["counts"] == results["fanned out"]["counts"]
    print(f"vectors: {len(fanned)} rows, same ids {same_ids}, duplicates {duplicates}, max |difference| {max_diff:.2e}; "
          f"Chroma counts per day equal: {counts_equal}")
    ratio = results["single run"]["wall"] / results["fanned out"]["wall"]
    print(f"fanned out vs single run: {ratio:.2f}x the single run's speed")


if __name__ == "__main__":
    main()

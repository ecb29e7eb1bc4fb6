"""Ingest -> training windows on the whole replay universe (88 companies + SPY, prices 2012-09..2017-09,
106,338 texts 2014-2015) through the real assets, in a child process per step so each step's peak
memory is its own. STOCK_HOME defaults to <default STOCK_HOME>/bench_panel: the first run embeds every
text, a second run measures the incremental path (everything cached).

    .venv/bin/python bench/bench_panel.py [--embedder minilm]

Baseline in the same run: the seed's full-tensor layout (windows x 30 x D float32) for the same windows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from homes import bench_home  # noqa: E402

REPLAY = REPO.parent / "shared" / "data" / "replay"
STEP = """
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {repo!r})
import dagster as dg
from stock_assets.definitions import build_definitions
defs = build_definitions()
by_name = {{a.key.to_user_string(): a for a in defs.assets}}
names, selection = {names!r}, {selection!r}
tags = {{"dagster/asset_partition_range_start": "2012-09-01", "dagster/asset_partition_range_end": "2017-08-31"}} if {ranged!r} else {{}}
started = time.perf_counter()
result = dg.materialize([by_name[n] for n in names], selection=[by_name[n] for n in selection], resources=defs.resources, tags=tags)
meta = {{e.asset_key.to_user_string(): {{k: v.value for k, v in e.materialization.metadata.items() if isinstance(v.value, (int, float, str))}}
        for e in result.get_asset_materialization_events()}}
print(json.dumps({{"seconds": time.perf_counter() - started, "meta": meta}}))
"""


def step(names, selection, ranged) -> dict:
    """Run one materialization in a child; its own peak RSS from wait4 (KiB on Linux)."""
    code = STEP.format(repo=str(REPO), names=names, selection=selection, ranged=ranged)
    log = Path(os.environ["STOCK_HOME"]) / "bench_panel.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as quiet, subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                                         stderr=quiet, text=True, env=os.environ) as child:
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"step {selection} failed (exit {child.returncode}); see {log}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_gib"] = usage.ru_maxrss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    symbols = sorted(p.stem for p in (REPLAY / "prices").glob("*.csv"))
    os.environ.update(STOCK_PRICE_SOURCE="replay", STOCK_NEWS_SOURCE="replay", STOCK_REPLAY_DIR=str(REPLAY),
                      STOCK_SYMBOLS=",".join(symbols), STOCK_EMBEDDER=args.embedder, STOCK_START_DATE="2012-09-01",
                      STOCK_END_DATE="2017-09-01")
    os.environ.setdefault("STOCK_HOME", str(bench_home("bench_panel")))
    ingest = step(["raw_prices", "raw_news", "news_embeddings"], ["raw_prices", "raw_news", "news_embeddings"], True)
    panel = step(["raw_prices", "raw_news", "news_embeddings", "training_windows"], ["training_windows"], False)
    emb, win = ingest["meta"]["news_embeddings"], panel["meta"]["training_windows"]
    windows = sum(win[f"windows_{s}"] for s in ("train", "validation", "test"))
    full = windows * 30 * win["news_dim"] * 4 / 2**30
    print(f"symbols: {len(symbols)}; sessions {win['sessions']}; windows {windows} ({win['symbols_without_windows']} without any)")
    print(f"ingest + embed (1,825 daily partitions, one run): {ingest['seconds']:.0f} s, peak RSS {ingest['peak_gib']:.2f} GiB; "
          f"embedded now {emb.get('embedded_now')}, reused {emb.get('reused')}")
    print(f"training_windows: {panel['seconds']:.0f} s, peak RSS {panel['peak_gib']:.2f} GiB, on disk {win['panel_mb']} MiB; "
          f"full-tensor layout of the same windows: {full:.1f} GiB")


if __name__ == "__main__":
    main()

"""Training benchmarks.

1. Peak RSS (and time) of building the training panel for a synthetic universe of 500 symbols
   x 10 years with 768-d news vectors (0-3 headlines per symbol per calendar day), measured in a
   child process; against the memory the seed's full-tensor layout (windows x 30 x 768 float32)
   would need for the same windows.
2. Training samples/s of the seed-sized model: 1 process vs 2-process DDP (gloo) on this machine,
   same panel, same global batch.
    .venv/bin/python bench/bench_training.py [--symbols 500] [--years 10]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_news_days(symbols: list[str], start: date, end: date, dim: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    for day in pd.date_range(start, end, inclusive="left"):
        counts = rng.integers(0, 4, size=len(symbols))
        n = int(counts.sum())
        if not n:
            continue
        seconds = rng.integers(0, 86400, size=n)
        stamps = (day + pd.to_timedelta(seconds, unit="s")).tz_localize("America/New_York", ambiguous="NaT", nonexistent="shift_forward").tz_convert("UTC")
        keep = ~stamps.isna()  # the repeated hour when DST ends
        frame = pd.DataFrame({"symbol": np.repeat(symbols, counts), "published_at": stamps})[keep]
        frame.attrs["vectors"] = rng.standard_normal((n, dim), dtype=np.float32)[keep]
        yield frame


def build_child(symbols: int, years: int, out: str) -> None:
    """Runs in a child process so its peak RSS is the panel build's alone."""
    from stock_assets.ingest.prices import SyntheticPriceSource
    from stock_assets.model.panel import save_panel
    from stock_assets.training.windows import build_panel

    names = [f"S{i:04d}" for i in range(symbols)]
    start, end = date(2008, 1, 1), date(2008 + years, 1, 1)
    started = time.perf_counter()
    prices = SyntheticPriceSource(seed=1).fetch(names, start, end)
    panel = build_panel(prices, synthetic_news_days(names, start, end, 768), news_dim=768)
    folder = save_panel(Path(out), panel)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "sessions": len(panel.sessions), "symbols": len(panel.symbols), "windows": int(len(panel.windows["end"])),
        "news_rows": int(len(panel.news_vectors)), "seconds": seconds, "peak_rss": peak,
        "panel_bytes": sum(f.stat().st_size for f in folder.iterdir()),
    }))


def samples_per_s(panel: Path, processes: int, batch: int, epochs: int) -> float:
    from stock_assets.model.checkpoints import LATEST, load_checkpoint
    from stock_assets.training.launchers import LocalTorchrunLauncher

    with tempfile.TemporaryDirectory() as tmp:
        args = ["--panel", str(panel), "--checkpoints", tmp, "--size", "base", "--epochs", str(epochs),
                "--batch-size", str(batch // processes), "--patience", "100"]
        launcher = LocalTorchrunLauncher(processes=processes)
        threads = max(1, (os.cpu_count() or 1) // processes)
        subprocess.run(launcher.command(args), check=True, capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        return float(load_checkpoint(Path(tmp) / LATEST)["samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        build_child(args.symbols, args.years, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--symbols", str(args.symbols), "--years", str(args.years), "--out", tmp],
            check=True, capture_output=True, text=True,
        )
        built = json.loads(child.stdout.strip().splitlines()[-1])
    full = built["windows"] * 30 * 768 * 4
    print(f"panel: {built['symbols']} symbols x {built['sessions']} sessions, {built['news_rows']:,} session-news vectors, "
          f"{built['windows']:,} windows")
    print(f"  build time {built['seconds']:.0f} s; peak RSS {built['peak_rss'] / 2**30:.2f} GiB; on disk {built['panel_bytes'] / 2**30:.2f} GiB")
    print(f"  the seed's full-tensor layout for the same windows: {full / 2**30:.0f} GiB of news tensors "
          f"({full / built['peak_rss']:.0f}x the measured peak)")

    with tempfile.TemporaryDirectory() as tmp:  # a small panel for throughput: 10 symbols x 2 years
        small = subprocess.run(
            [sys.executable, __file__, "--child", "--symbols", "10", "--years", "2", "--out", tmp],
            check=True, capture_output=True, text=True,
        )
        windows = json.loads(small.stdout.strip().splitlines()[-1])["windows"]
        one = samples_per_s(Path(tmp), 1, 64, 1)
        two = samples_per_s(Path(tmp), 2, 64, 1)
    print(f"training, seed-sized model (d=256, 4 layers), 768-d news, global batch 64, {windows:,} windows:")
    print(f"  1 process:            {one:8.1f} samples/s")
    print(f"  2-process DDP (gloo): {two:8.1f} samples/s  ({two / one:.2f}x)")


if __name__ == "__main__":
    main()

"""Compare calibration rules on walk-forward folds that eval_replay.py trained (their checkpoints
keep the raw validation and test outputs): the shrinkage's confidence bound and the weight of
the conformal interval factor. Run it on development folds (the 2014 quarters) to choose the
rules, never on the folds that are reported.

    .venv/bin/python bench/calibration_rules.py --folds 2014Q1,2014Q2,2014Q3,2014Q4 --variant price
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from homes import bench_home  # noqa: E402
from stock_assets.model.calibration import fit_interval_scale, fit_shrinkage  # noqa: E402
from stock_assets.model.checkpoints import BEST, load_checkpoint, variant_folder  # noqa: E402
from stock_assets.model.metrics import coverage, pinball, volatility_band  # noqa: E402
from stock_assets.model.panel import load_panel  # noqa: E402
from served_walk_forward import in_period, quarter_start  # noqa: E402

SHRINKAGE = {"none (alpha = 1)": None, "80 % bound": 0.8, "90 % bound": 0.9, "95 % bound": 0.95}
CONFORMAL = {"none": 0.0, "half-way": 0.5, "full": 1.0}


def rows(state: dict, fold_windows: np.ndarray) -> dict[str, tuple[float, ...]]:
    """Each rule's figures on the fold's windows (a boolean mask over the test predictions: the
    checkpoint's test split runs on past the fold)."""
    v = state["validation_predictions"]
    t = {k: np.asarray(x)[fold_windows] for k, x in state["test_predictions"].items() if k not in ("symbols",)}
    vm, va, tm, ta = (x.astype(np.float64) for x in (v["mean"], v["actual"], t["raw_mean"], t["actual"]))
    walk = np.abs(ta).mean()
    out = {}
    for name, confidence in SHRINKAGE.items():
        alpha = np.ones(vm.shape[1]) if confidence is None else fit_shrinkage(vm, va, v["end"], confidence)
        out[f"shrinkage {name}"] = (1.0 - np.abs(alpha * tm - ta).mean() / walk,)
    # widths as trained: undo the checkpoint's own calibration of the stored quantiles
    scale = np.asarray(state["calibration"]["interval_scale"], dtype=np.float64)
    point, q = t["point"].astype(np.float64), t["quantiles"].astype(np.float64)
    lower, upper = (point - q[..., 0]) / scale[0], (q[..., 2] - point) / scale[1]
    alpha = fit_shrinkage(vm, va, v["end"])
    band = pinball(volatility_band(t["sigma"].astype(np.float64)), ta)
    for name, weight in CONFORMAL.items():
        factor = fit_interval_scale(alpha * vm, v["lower"].astype(np.float64), v["upper"].astype(np.float64), va, weight=weight)
        quantiles = np.stack([alpha * tm - factor[0] * lower, alpha * tm, alpha * tm + factor[1] * upper], axis=-1)
        out[f"intervals: {name} conformal"] = (coverage(quantiles, ta), pinball(quantiles, ta) / band)
    out["intervals: oracle bound (look-ahead)"] = oracle_bound(ta, t["sigma"].astype(np.float64), t["end"], band)
    return out


def oracle_bound(actual: np.ndarray, sigma: np.ndarray, days: np.ndarray, band_pinball: float) -> tuple[float, float]:
    """A bound, not a forecaster: the band scaled by each day's *future* cross-sectional
    volatility (per horizon) times the stock's relative volatility, with the best constant
    factor fitted on the test windows themselves. What no forecast from 30 closes can beat."""
    index = np.unique(days, return_inverse=True)[1]
    counts = np.bincount(index)
    day_vol = np.sqrt(np.stack([np.bincount(index, actual[:, h] ** 2) / counts for h in range(actual.shape[1])], 1))
    half = 1.2815516 * day_vol[index] * (sigma / np.median(sigma))[:, None]
    best = min((pinball(np.stack([-c * half, np.zeros_like(half), c * half], -1), actual), c) for c in np.linspace(0.5, 1.5, 41))
    quantiles = np.stack([-best[1] * half, np.zeros_like(half), best[1] * half], -1)
    return coverage(quantiles, actual), best[0] / band_pinball


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", default="2014Q1,2014Q2,2014Q3,2014Q4")
    parser.add_argument("--variant", default="price", choices=["news", "price"])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("STOCK_HOME") or bench_home("eval_replay")))
    args = parser.parse_args()
    folds = args.folds.split(",")
    sessions = load_panel(args.home / "lake" / "training_windows").sessions.astype("datetime64[D]")
    table = {}
    for fold in folds:
        folder = args.home / "walk_forward" / fold
        state = load_checkpoint(variant_folder(folder, args.variant) / BEST)
        ends = np.asarray(state["test_predictions"]["end"])
        for rule, figures in rows(state, in_period(ends, sessions, quarter_start(fold), quarter_start(fold, 1))).items():
            table.setdefault(rule, []).append(figures)
    print(f"| rule | {' | '.join(folds)} | mean |\n|---|{'---|' * (len(folds) + 1)}")
    for rule, figures in table.items():
        f = np.array(figures)
        if f.shape[1] == 1:  # skill
            cells = [f"{100 * x:+.3f} %" for x in f[:, 0]] + [f"{100 * f[:, 0].mean():+.3f} %"]
        else:  # coverage / pinball ratio against the volatility band
            cells = [f"{c:.3f} / {p:.4f}" for c, p in f] + [f"{f[:, 0].mean():.3f} / {f[:, 1].mean():.4f}"]
        print(f"| {rule} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()

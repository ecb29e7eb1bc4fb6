"""The live loop's interval rules in a walk-forward on the replay universe: what the served
version's 80 % intervals would have covered, day by day, under each rule.

The served forecasts are production's (bench/served_walk_forward.py: the gate's choice per fold,
from the fold checkpoints that eval_replay.py trained; run it first, then this reuses them). Each
forecast is an outcome of its horizon's session; rules, all fed only outcomes known by the
forecast's close:
- as served: the version's own interval (fitted once per training on the quarter before: what
  shipped before the track record);
- band: the trailing-volatility band (the baseline);
- rolling 63: stock_assets/track/calibration.py, the rule served_forecasts applies (per horizon,
  the 80 % quantile of the misses of the outcomes of the last 63 sessions; 1 until 20 are known);
- ACI (Gibbs and Candes 2021) on the same misses: the quantile level moves each session by
  gamma * (miss rate - 0.2) of that session's outcomes.
The rule is chosen on 2014 (rolling vs ACI and its gamma); 2015 is scored once with it.

    .venv/bin/python bench/track_walk_forward.py --years 2014,2015
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("STOCK_HOME", str(REPO / ".stock_home" / "eval_replay"))

from stock_assets.model.metrics import diebold_mariano, volatility_band  # noqa: E402
from stock_assets.model.network import HORIZON  # noqa: E402
from stock_assets.track.calibration import LEVEL, MIN_SESSIONS, WINDOW_SESSIONS, interval_scales, normalized_miss  # noqa: E402

ALPHA = 1 - LEVEL


def served_forecasts(years: list[str], args) -> pd.DataFrame:
    """Long rows (forecast day, symbol, horizon) of what the gate served in each fold, with the
    outcome day, the served log-return quantiles, the band and the realised return."""
    from eval_replay import train_fold
    from served_walk_forward import fold_splits, simulate

    from stock_assets.export.assets import OnnxConfig
    from stock_assets.model.panel import load_panel
    from stock_assets.training.windows import TEST_SESSIONS, VALIDATION_SESSIONS

    home = Path(os.environ["STOCK_HOME"])
    sessions = load_panel(home / "lake" / "training_windows").sessions.astype("datetime64[D]")
    frames = []
    for year in years:
        folds = [f"{year}Q{q}" for q in range(1, 5)]
        challengers = {}
        for fold in folds:
            splits = fold_splits(sessions, fold, folds[-1], VALIDATION_SESSIONS, TEST_SESSIONS)
            challengers[fold] = {v: train_fold(fold, v, splits, args)["state"] for v in ("news", "price")}
        served, _ = simulate(challengers, sessions, OnnxConfig().gate_windows, OnnxConfig().gate_evidence_p)
        for fold, record in served.items():
            p = record["test_predictions"]
            ends = np.asarray(p["end"]).astype("datetime64[D]")
            position = np.searchsorted(sessions, ends)
            band = volatility_band(np.asarray(p["sigma"], np.float64), HORIZON)
            for h in range(HORIZON):
                frames.append(pd.DataFrame({
                    "fold": fold, "forecast_date": ends.astype(str), "horizon": h + 1,
                    "date": sessions[position + h + 1].astype(str),
                    "low": p["quantiles"][:, h, 0], "median": p["quantiles"][:, h, 1], "high": p["quantiles"][:, h, 2],
                    "band_low": band[:, h, 0], "band_high": band[:, h, 2], "realised": p["actual"][:, h],
                }))
    frame = pd.concat(frames, ignore_index=True)
    frame["miss"] = normalized_miss(frame["realised"].to_numpy(), frame["low"].to_numpy(), frame["median"].to_numpy(), frame["high"].to_numpy())
    return frame.sort_values(["forecast_date", "horizon"], ignore_index=True)


def rolling_scales(frame: pd.DataFrame) -> pd.DataFrame:
    """The scale per (forecast day, horizon): interval_scales on the outcomes known by that close."""
    days = sorted(frame["forecast_date"].unique())
    outcomes = frame[["date", "horizon", "miss"]]
    out = []
    for day in days:
        known = outcomes[outcomes["date"] <= day]
        out.append(interval_scales(known if len(known) else None))
    return pd.DataFrame(np.array(out), index=days, columns=range(1, HORIZON + 1))


def aci_scales(frame: pd.DataFrame, gamma: float) -> pd.DataFrame:
    """ACI on the rolling window's misses: per horizon, the level 1 - alpha_t, alpha_t moved after
    each outcome session by gamma * (alpha - that session's miss rate)."""
    days = sorted(frame["forecast_date"].unique())
    alpha = np.full(HORIZON, ALPHA)
    by_outcome = {d: g for d, g in frame.groupby("date")}
    outcome_days = sorted(by_outcome)
    out, seen, cursor = [], [], 0
    current = np.ones(HORIZON)
    for day in days:
        while cursor < len(outcome_days) and outcome_days[cursor] <= day:
            rows = by_outcome[outcome_days[cursor]]
            for h in range(1, HORIZON + 1):
                mine = rows[rows["horizon"] == h]["miss"].to_numpy()
                if len(mine):
                    err = float(np.mean(mine > current[h - 1]))  # misses of the interval served for them (approx.: today's scale)
                    alpha[h - 1] = np.clip(alpha[h - 1] + gamma * (ALPHA - err), 0.01, 0.99)
            seen.append(outcome_days[cursor])
            cursor += 1
        recent = frame[frame["date"].isin(seen[-WINDOW_SESSIONS:])] if len(seen) >= MIN_SESSIONS else None
        if recent is not None:
            current = np.array([np.clip(np.quantile(recent.loc[recent["horizon"] == h, "miss"], 1 - alpha[h - 1]), 0.25, 4.0)
                                for h in range(1, HORIZON + 1)])
        out.append(current.copy())
    return pd.DataFrame(np.array(out), index=days, columns=range(1, HORIZON + 1))


def interval_score(low, high, y) -> np.ndarray:
    return (high - low) + (2 / ALPHA) * (low - y) * (y < low) + (2 / ALPHA) * (y - high) * (y > high)


def apply(frame: pd.DataFrame, scales: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    if scales is None:
        return frame["low"].to_numpy(), frame["high"].to_numpy()
    s = scales.stack().rename("s")
    s.index.names = ["forecast_date", "horizon"]
    scale = frame.join(s, on=["forecast_date", "horizon"])["s"].to_numpy()
    m = frame["median"].to_numpy()
    return m + scale * (frame["low"].to_numpy() - m), m + scale * (frame["high"].to_numpy() - m)


def table(frame: pd.DataFrame, rules: dict[str, tuple[np.ndarray, np.ndarray]], reference: str) -> str:
    y = frame["realised"].to_numpy()
    names = list(rules)
    lines = ["| fold | " + " | ".join(f"{n}: coverage / width / IS" for n in names) + f" | IS vs {reference} (DM p, rolling better) |",
             "|---|" + "---|" * (len(names) + 1)]
    scores = {n: interval_score(*rules[n], y) for n in names}
    for fold in [*sorted(frame["fold"].unique()), "pooled"]:
        mask = np.ones(len(frame), bool) if fold == "pooled" else (frame["fold"] == fold).to_numpy()
        cells = []
        for n in names:
            low, high = rules[n]
            cover = np.mean((y[mask] >= low[mask]) & (y[mask] <= high[mask]))
            cells.append(f"{cover:.3f} / {np.mean(high[mask] - low[mask]):.4f} / {np.mean(scores[n][mask]):.4f}")
        # per forecast (day, symbol): mean over horizons is what DM sees; here rows are grouped by forecast day
        per_row = pd.DataFrame({"d": frame["forecast_date"][mask], "a": scores["rolling 63"][mask], "b": scores[reference][mask]})
        dm = diebold_mariano(per_row["a"].to_numpy(), per_row["b"].to_numpy(), per_row["d"].to_numpy(), HORIZON)
        ratio = np.mean(scores["rolling 63"][mask]) / np.mean(scores[reference][mask]) - 1
        cells.append(f"{ratio:+.1%} (p {dm['p_a_better']:.3f})")
        lines.append(f"| {fold} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", default="2014")
    parser.add_argument("--gammas", default="0.005,0.05")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--size", default="small")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    args.reuse = True
    from machine import describe

    print(describe(), flush=True)
    frame = served_forecasts(args.years.split(","), args)
    print(f"{len(frame)} served forecast-horizons, {frame['forecast_date'].nunique()} forecast days, "
          f"folds {', '.join(sorted(frame['fold'].unique()))}", flush=True)
    rules = {"as served": apply(frame, None), "band": (frame["band_low"].to_numpy(), frame["band_high"].to_numpy()),
             "rolling 63": apply(frame, rolling_scales(frame))}
    for gamma in (float(g) for g in args.gammas.split(",")):
        rules[f"ACI {gamma:g}"] = apply(frame, aci_scales(frame, gamma))
    print(table(frame, rules, "as served"))


if __name__ == "__main__":
    main()

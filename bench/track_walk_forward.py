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
  gamma * (miss rate - 0.2) of that session's outcomes (calibration.aci_scales, what ships).
The rule was chosen on 2014 (rolling 42/63 vs ACI with gamma 0.02/0.05/0.1, by the pooled interval
score): ACI 0.02; 2015 is scored once with it.

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
from homes import bench_home  # noqa: E402

os.environ.setdefault("STOCK_HOME", str(bench_home("eval_replay")))

from stock_assets.model.metrics import diebold_mariano, volatility_band  # noqa: E402
from stock_assets.model.network import HORIZON  # noqa: E402
from stock_assets.track.calibration import LEVEL, SCALE_LOOKBACK_DAYS, WINDOW_SESSIONS, interval_scales, normalized_miss  # noqa: E402
from stock_assets.track.calibration import ACI_GAMMA  # noqa: E402
from stock_assets.track.calibration import aci_scales as production_aci  # noqa: E402

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


def rolling_scales(frame: pd.DataFrame, window: int = WINDOW_SESSIONS) -> pd.DataFrame:
    """The scale per (forecast day, horizon): interval_scales on the outcomes known by that close."""
    days = sorted(frame["forecast_date"].unique())
    outcomes = frame[["date", "horizon", "miss"]]
    out = []
    for day in days:
        known = outcomes[outcomes["date"] <= day]
        out.append(interval_scales(known if len(known) else None, window=window))
    return pd.DataFrame(np.array(out), index=days, columns=range(1, HORIZON + 1))


def aci_scales(frame: pd.DataFrame, gamma: float) -> pd.DataFrame:
    """Production's ACI rule (calibration.aci_scales over the outcomes of the SCALE_LOOKBACK_DAYS
    up to each close), day by day: an outcome's `hit` is whether the interval served for it (with
    the scale this simulation gave its forecast day) covered it, as forecast_scores records it."""
    days = sorted(frame["forecast_date"].unique())
    decided: dict[str, np.ndarray] = {}
    outcomes = frame[["forecast_date", "date", "horizon", "miss"]].copy()
    for day in days:
        since = (pd.Timestamp(day) - pd.Timedelta(days=SCALE_LOOKBACK_DAYS)).strftime("%Y-%m-%d")
        known = outcomes[(outcomes["date"] > since) & (outcomes["date"] <= day)]
        if len(known):
            scale = np.array([decided[f][h - 1] for f, h in zip(known["forecast_date"], known["horizon"])])
            known = known.assign(hit=(known["miss"].to_numpy() <= scale).astype(float))
        decided[day] = production_aci(known if len(known) else None, gamma=gamma)
    return pd.DataFrame(np.array([decided[d] for d in days]), index=days, columns=range(1, HORIZON + 1))


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


def table(frame: pd.DataFrame, rules: dict[str, tuple[np.ndarray, np.ndarray]], chosen: str) -> str:
    y = frame["realised"].to_numpy()
    names = list(rules)
    lines = ["| fold | " + " | ".join(f"{n}: coverage / width / IS" for n in names)
             + f" | {chosen} IS vs as served (one-sided DM p) | vs band |", "|---|" + "---|" * (len(names) + 2)]
    scores = {n: interval_score(*rules[n], y) for n in names}
    years = sorted({f[:4] for f in frame["fold"].unique()})
    for fold in [*sorted(frame["fold"].unique()), *(f"{y} pooled" for y in years)]:
        mask = (frame["fold"].str[:4] == fold[:4]).to_numpy() if fold.endswith("pooled") else (frame["fold"] == fold).to_numpy()
        cells = []
        for n in names:
            low, high = rules[n]
            cover = np.mean((y[mask] >= low[mask]) & (y[mask] <= high[mask]))
            cells.append(f"{cover:.3f} / {np.mean(high[mask] - low[mask]):.4f} / {np.mean(scores[n][mask]):.4f}")
        for reference in ("as served", "band"):
            dm = diebold_mariano(scores[chosen][mask], scores[reference][mask], frame["forecast_date"].to_numpy()[mask], HORIZON)
            ratio = np.mean(scores[chosen][mask]) / np.mean(scores[reference][mask]) - 1
            cells.append(f"{ratio:+.1%} (p {dm['p_a_better']:.3f})")
        lines.append(f"| {fold} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def query_timing(frame: pd.DataFrame, scales: pd.DataFrame) -> str:
    """The track record of every version and day range from forecast_scores, timed: the walk-forward's
    forecasts written as production's daily partitions (SCORE_COLUMNS; symbols numbered by their
    position within the day: only the timing is measured), read with read_record (one pyarrow
    dataset scan) vs the lake's file-by-file read, then summarized per version."""
    import tempfile
    import time

    from stock_assets.lake import read_partitions, write_parquet_atomic
    from stock_assets.track.record import SCORE_COLUMNS, read_record, track_record, typed
    from upath import UPath

    low, high = apply(frame, scales)
    rows = frame.assign(symbol=frame.groupby(["forecast_date", "horizon"]).cumcount().astype(str),
                        model_version=frame["fold"].rank(method="dense").astype(int), network="news network",
                        forecast_return=frame["median"], realised_return=frame["realised"],
                        abs_error=(frame["median"] - frame["realised"]).abs(), random_walk_abs_error=frame["realised"].abs(),
                        hit=((frame["realised"] >= low) & (frame["realised"] <= high)).astype(float),
                        pinball=0.0, band_pinball=0.0, band_hit=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = UPath(tmp) / "forecast_scores"
        for day, part in rows.groupby("date"):
            write_parquet_atomic(typed(part, SCORE_COLUMNS), folder / f"{day}.parquet")
        days = sorted(rows["date"].unique())
        timings = {}
        for name, read in (("read_record (one dataset scan)", lambda: read_record(folder)),
                           ("file by file (lake.read)", lambda: read_partitions(UPath(tmp), "forecast_scores", days))):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                scores = read()
                track_record(scores, int(scores["model_version"].max()))  # the served version's record
                best = min(best, time.perf_counter() - started)
            timings[name] = best
        started = time.perf_counter()
        track_record(read_record(folder))
        everything = time.perf_counter() - started
    first, second = timings.values()
    return (f"Track record query: {len(days)} daily files, {len(rows)} scored rows, {rows['model_version'].nunique()} versions; "
            f"one version's record (last 20 / 60 sessions, since publication), read included: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()) + f" (ratio {second / first:.1f}x); "
            f"all versions pooled over the 2 years {everything:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", default="2014")
    parser.add_argument("--gammas", default="0.02,0.05,0.1")
    parser.add_argument("--windows", default="42", help="other rolling windows (sessions) to compare, e.g. 21,42")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--size", default="small")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--query-timing", action="store_true", help="also time the track record query on these forecasts")
    args = parser.parse_args()
    args.reuse = True
    from machine import cpu_flags

    print(f"CPU flags: {cpu_flags()}", flush=True)
    frame = served_forecasts(args.years.split(","), args)
    print(f"{len(frame)} served forecast-horizons, {frame['forecast_date'].nunique()} forecast days, "
          f"folds {', '.join(sorted(frame['fold'].unique()))}", flush=True)
    rules = {"as served": apply(frame, None), "band": (frame["band_low"].to_numpy(), frame["band_high"].to_numpy()),
             "rolling 63": apply(frame, rolling_scales(frame))}
    for window in (int(w) for w in args.windows.split(",") if w):
        rules[f"rolling {window}"] = apply(frame, rolling_scales(frame, window))
    for gamma in (float(g) for g in args.gammas.split(",")):
        rules[f"ACI {gamma:g}"] = apply(frame, aci_scales(frame, gamma))
    chosen = f"ACI {ACI_GAMMA:g}"
    if chosen not in rules:
        rules[chosen] = apply(frame, aci_scales(frame, ACI_GAMMA))
    print(f"IS: interval score of the 80 % interval (width + 10 x the miss distance; lower is better), log-returns; "
          f"the served rule is {chosen} (stock_assets/track/calibration.py)")
    print(table(frame, rules, chosen))
    if args.query_timing:
        print(query_timing(frame, aci_scales(frame, ACI_GAMMA)))


if __name__ == "__main__":
    main()

"""Forecasts as served, scored when their outcome arrives, and the track record they add up to.

No Dagster here: the chatbot API reads the same record. All returns are log-returns from the
close the forecast started from.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stock_assets.model.metrics import LEVELS, diebold_mariano, rank_ic
from stock_assets.model.network import HORIZON
from stock_assets.track.calibration import normalized_miss

FORECAST_COLUMNS = [
    "date", "symbol", "model_version", "network", "served_by", "horizon", "target_date", "last_close", "forecast",
    "low", "median", "high", "raw_low", "raw_high", "interval_scale", "band_low", "band_high",
]
SCORE_COLUMNS = [
    "date", "forecast_date", "symbol", "model_version", "network", "horizon", "forecast_return", "realised_return",
    "abs_error", "random_walk_abs_error", "hit", "miss", "pinball", "band_pinball", "band_hit",
]


TEXT = {"date", "symbol", "network", "served_by", "target_date", "forecast_date"}
WHOLE = {"model_version", "horizon"}


def typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame` with the record's column order and types (every partition file the same schema)."""
    return frame[columns].astype({c: "object" if c in TEXT else "int64" if c in WHOLE else "float64" for c in columns})


def empty(columns: list[str]) -> pd.DataFrame:
    return typed(pd.DataFrame({c: [] for c in columns}), columns)


def _log(values, last) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(values, np.float64) / np.asarray(last, np.float64))


def _pinball_rows(realised: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Pinball loss per row [n], averaged over the 10/50/90 % levels: the per-row terms of
    scikit-learn's mean_pinball_loss (tests/track check they average to it)."""
    diff = realised[:, None] - quantiles
    return np.maximum(LEVELS * diff, (LEVELS - 1.0) * diff).mean(axis=1)


def score(forecasts: pd.DataFrame, closes: dict[str, float], outcome_day: str) -> pd.DataFrame:
    """Every forecast in `forecasts` whose target is `outcome_day`, against that day's close
    (`closes`: symbol -> adjusted close); forecasts of a symbol without a close stay unscored."""
    due = forecasts[(forecasts["target_date"] == outcome_day) & forecasts["symbol"].isin(list(closes))]
    if due.empty:
        return empty(SCORE_COLUMNS)
    last = due["last_close"].to_numpy(np.float64)
    realised = _log(due["symbol"].map(closes), last)
    point = _log(due["forecast"], last)
    low, median, high = (_log(due[c], last) for c in ("low", "median", "high"))
    raw_low, raw_high = _log(due["raw_low"], last), _log(due["raw_high"], last)
    band_low, band_high = _log(due["band_low"], last), _log(due["band_high"], last)
    return typed(pd.DataFrame({
        "date": outcome_day,
        "forecast_date": due["date"].to_numpy(),
        "symbol": due["symbol"].to_numpy(),
        "model_version": due["model_version"].to_numpy(),
        "network": due["network"].to_numpy(),
        "horizon": due["horizon"].to_numpy(),
        "forecast_return": point,
        "realised_return": realised,
        "abs_error": np.abs(point - realised),
        "random_walk_abs_error": np.abs(realised),
        "hit": ((realised >= low) & (realised <= high)).astype(np.float64),
        "miss": normalized_miss(realised, raw_low, median, raw_high),
        "pinball": _pinball_rows(realised, np.stack([low, median, high], axis=1)),
        "band_pinball": _pinball_rows(realised, np.stack([band_low, np.zeros_like(band_low), band_high], axis=1)),
        "band_hit": ((realised >= band_low) & (realised <= band_high)).astype(np.float64),
    }), SCORE_COLUMNS)


def summary(scores: pd.DataFrame) -> dict:
    """The record of `scores`: forecasts scored, skill against the random walk with the one-sided
    DM p-value of "worse than the random walk" and of "better", 80 % coverage, pinball against the
    trailing band, and the daily cross-sectional rank IC of 5-day forecasts."""
    if scores is None or scores.empty:
        return {"forecasts": 0, "sessions": 0}
    per_forecast = scores.groupby(["forecast_date", "symbol"], sort=True)[["abs_error", "random_walk_abs_error"]].mean()
    dates = per_forecast.index.get_level_values("forecast_date").to_numpy()
    dm = diebold_mariano(per_forecast["abs_error"].to_numpy(), per_forecast["random_walk_abs_error"].to_numpy(), dates, HORIZON)
    rw = float(scores["random_walk_abs_error"].sum())
    five = scores[scores["horizon"] == HORIZON]
    ic = rank_ic(five["forecast_return"].to_numpy(), five["realised_return"].to_numpy(), five["forecast_date"].to_numpy())
    band = float(scores["band_pinball"].mean())
    p_better = dm["p_a_better"]
    return {
        "forecasts": int(len(per_forecast)),
        "sessions": int(scores["date"].nunique()),
        "first": str(scores["forecast_date"].min()),
        "last_outcome": str(scores["date"].max()),
        "skill": 1.0 - float(scores["abs_error"].sum()) / rw if rw > 0 else float("nan"),
        "p_better": p_better,
        "p_worse": 1.0 - p_better if math.isfinite(p_better) else float("nan"),
        "dm_days": dm["days"],
        "coverage_80": float(scores["hit"].mean()),
        "band_coverage_80": float(scores["band_hit"].mean()),
        "pinball_vs_band": float(scores["pinball"].mean()) / band if band > 0 else float("nan"),
        "rank_ic": ic["mean"],
        "icir": ic["icir"],
        "ic_days": ic["days"],
    }


def last_sessions(scores: pd.DataFrame, n: int) -> pd.DataFrame:
    days = np.sort(scores["date"].unique())
    return scores[scores["date"].isin(days[-n:])]


def track_record(scores: pd.DataFrame, version: int | None = None) -> dict[str, dict]:
    """The record over the last 20 and 60 outcome sessions and since publication, of `version`
    (all versions together when None)."""
    if scores is None or scores.empty:
        return {}
    chosen = scores if version is None else scores[scores["model_version"] == version]
    if chosen.empty:
        return {}
    return {"last 20 sessions": summary(last_sessions(chosen, 20)), "last 60 sessions": summary(last_sessions(chosen, 60)),
            "since publication": summary(chosen)}


def _fmt(value, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def record_table(records: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per (who, period)."""
    lines = ["| version | period | forecasts | skill vs RW | p (worse) | 80 % coverage | pinball / band | rank IC | ICIR |",
             "|---|---|---|---|---|---|---|---|---|"]
    for who, periods in records.items():
        for period, s in periods.items():
            lines.append(f"| {who} | {period} | {s.get('forecasts', 0)} | {_fmt(s.get('skill'), '{:+.2%}')} | "
                         f"{_fmt(s.get('p_worse'), '{:.2f}')} | {_fmt(s.get('coverage_80'), '{:.3f}')} | "
                         f"{_fmt(s.get('pinball_vs_band'), '{:.3f}')} | {_fmt(s.get('rank_ic'), '{:+.3f}')} | {_fmt(s.get('icir'), '{:+.2f}')} |")
    return "\n".join(lines)


def sentence(version: int | str | None, served_from: str | None, record: dict | None) -> str:
    """What users read: the served version's live record, or that none exists yet."""
    if version is None:
        return "No model version is registered as served yet, so there is no live track record."
    since = f", live since {served_from}" if served_from else ""
    if not record or not record.get("forecasts"):
        return f"Version {version}{since}: no forecast of it has been scored yet (no live track record)."
    return (f"Version {version}{since}: {record['forecasts']} forecasts scored, skill {_fmt(record.get('skill'), '{:+.2%}')} "
            f"vs the random walk (p = {_fmt(record.get('p_worse'), '{:.2f}')} that it is worse), "
            f"80 % coverage {_fmt(record.get('coverage_80'), '{:.2f}')}.")


def read_record(folder, since: str | None = None, until: str | None = None) -> pd.DataFrame | None:
    """All stored partitions of a record asset (lake/<asset>, a path or an object-store UPath)
    with `date` in [since, until], in one pyarrow dataset scan (hidden temp files are skipped)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from upath import UPath

    folder = UPath(folder)
    if not folder.exists():
        return None
    files = sorted(p.path for p in folder.iterdir() if p.name.endswith(".parquet") and not p.name.startswith("."))
    files = [f for f in files if (since is None or f.rsplit("/", 1)[-1][:10] >= since) and (until is None or f.rsplit("/", 1)[-1][:10] <= until)]
    if not files:
        return None
    columns = {"served_forecasts": FORECAST_COLUMNS, "forecast_scores": SCORE_COLUMNS}[folder.name]
    # the schema given: a day without rows stores its text columns as nulls
    schema = pa.schema([(c, pa.string() if c in TEXT else pa.int64() if c in WHOLE else pa.float64()) for c in columns])
    frame = ds.dataset(files, format="parquet", filesystem=folder.fs, schema=schema).to_table().to_pandas()
    return frame if not frame.empty else None


class Outcomes:
    """Forecasts and closes in memory, scored day by day: `scores_until(day)` is what was known
    at that day's close (outcomes of sessions up to it). Days forecast_scores already holds are
    taken from it (`stored`); the others (days of the same backfill) are scored by its rule."""

    def __init__(self, forecasts: pd.DataFrame | None, prices: pd.DataFrame | None, stored: pd.DataFrame | None = None):
        self.forecasts = [forecasts] if forecasts is not None and not forecasts.empty else []
        self.stored = dict(iter(stored.groupby("date"))) if stored is not None else {}
        self.closes: dict[str, dict[str, float]] = {}
        if prices is not None and not prices.empty:
            days = pd.to_datetime(prices["date"]).dt.strftime("%Y-%m-%d")
            for day, rows in prices.assign(day=days).dropna(subset=["adj_close"]).groupby("day"):
                self.closes[day] = {str(s): float(c) for s, c in zip(rows["symbol"], rows["adj_close"])}
        self.scored: dict[str, pd.DataFrame] = {}

    def add_forecasts(self, frame: pd.DataFrame) -> None:
        self.forecasts.append(frame)

    def score_day(self, day: str) -> pd.DataFrame:
        if day in self.stored:
            return self.stored[day]
        if day not in self.scored:
            if not self.forecasts or day not in self.closes:
                return empty(SCORE_COLUMNS)
            forecasts = pd.concat(self.forecasts, ignore_index=True) if len(self.forecasts) > 1 else self.forecasts[0]
            self.forecasts = [forecasts]
            self.scored[day] = score(forecasts[forecasts["date"] < day], self.closes[day], day)
        return self.scored[day]

    def scores_until(self, day: str) -> pd.DataFrame:
        frames = [self.score_day(d) for d in sorted(self.closes) if d <= day]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else empty(SCORE_COLUMNS)

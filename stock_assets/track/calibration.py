"""Intervals recalibrated daily from the live record (no Dagster: the API applies the same rule).

Each scored forecast gives its miss in units of its own half-interval: u = (r - m) / (q90 - m)
above the median m, (m - r) / (m - q10) below (log-returns; r realised). The version's interval
covers the outcome exactly when u <= 1, and q50 + s (q - q50) when u <= s. Two rules for s, per
horizon, from the forecasts whose outcome became known in the last `window` sessions:
`interval_scales` (their 80 % quantile: rolling split-conformal) and `aci_scales` (adaptive
conformal inference: the quantile's level adapts to the served interval's misses). The served
rule is ACI (`served_scales`), chosen on the 2014 folds. Until `min_sessions` sessions are scored
the scale is 1 (the version's own calibration). Misses are in each forecast's own units, so
forecasts of several versions pool.

What reaches the user: Triton returns the version's own quantiles; `served_forecasts` stores them
with the scale and the scaled interval, and the chatbot API applies the same scale (read from the
same record) to what Triton returns, so both show the same interval.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from stock_assets.model.network import HORIZON

WINDOW_SESSIONS = 63
SCALE_LOOKBACK_DAYS = 100  # calendar days that hold more than WINDOW_SESSIONS sessions
MIN_SESSIONS = 20
LEVEL = 0.8
SCALE_BOUNDS = (0.25, 4.0)  # a broken record cannot collapse or explode the interval
ACI_GAMMA = 0.02  # chosen on the 2014 walk-forward folds by the pooled interval score (bench/RESULTS.md)


def normalized_miss(realised: np.ndarray, low: np.ndarray, median: np.ndarray, high: np.ndarray) -> np.ndarray:
    """u per forecast (log-returns): <= 1 when the unscaled 10-90 % interval covers the outcome."""
    with np.errstate(divide="ignore", invalid="ignore"):
        above = (realised - median) / np.maximum(high - median, 1e-12)
        below = (median - realised) / np.maximum(median - low, 1e-12)
    return np.where(realised >= median, above, below)


def interval_scales(scores: pd.DataFrame | None, window: int = WINDOW_SESSIONS, min_sessions: int = MIN_SESSIONS) -> np.ndarray:
    """Scale per horizon [5] from `scores` (columns date = the outcome session, horizon, miss): the rows of the
    last `window` outcome sessions in it. The caller passes only outcomes known by then."""
    scales = np.ones(HORIZON)
    if scores is None or scores.empty:
        return scales
    days = np.sort(scores["date"].unique())
    if len(days) < min_sessions:
        return scales
    return miss_quantiles(scores[scores["date"].isin(days[-window:])], np.full(HORIZON, LEVEL))


def miss_quantiles(recent: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
    """Per horizon, the `levels[h]` quantile of the finite misses in `recent` (1 without any), bounded."""
    scales = np.ones(HORIZON)
    for h in range(1, HORIZON + 1):
        misses = recent.loc[recent["horizon"] == h, "miss"].to_numpy(np.float64)
        misses = misses[np.isfinite(misses)]
        if len(misses):
            scales[h - 1] = float(np.clip(np.quantile(misses, levels[h - 1]), *SCALE_BOUNDS))
    return scales


def aci_scales(scores: pd.DataFrame | None, gamma: float = ACI_GAMMA, window: int = WINDOW_SESSIONS,
               min_sessions: int = MIN_SESSIONS) -> np.ndarray:
    """Adaptive conformal inference (Gibbs and Candes 2021) on the same misses, per horizon: the
    miss quantile's level is 1 - alpha, and after each outcome session in `scores` (in order)
    alpha += gamma * (0.2 - the share of that session's outcomes the served interval missed)
    (`hit` column). alpha starts at 0.2 at the first session given, so the scale depends only on
    the outcomes passed (the last SCALE_LOOKBACK_DAYS): a backfill and the daily run agree."""
    scales = np.ones(HORIZON)
    if scores is None or scores.empty:
        return scales
    days = np.sort(scores["date"].unique())
    if len(days) < min_sessions:
        return scales
    alpha = np.full(HORIZON, 1.0 - LEVEL)
    missed = 1.0 - scores.groupby(["date", "horizon"])["hit"].mean()
    for day in days:
        for h in range(1, HORIZON + 1):
            if (day, h) in missed.index:
                alpha[h - 1] = np.clip(alpha[h - 1] + gamma * ((1.0 - LEVEL) - missed[(day, h)]), 0.01, 0.99)
    return miss_quantiles(scores[scores["date"].isin(days[-window:])], 1.0 - alpha)


def served_scales(scores: pd.DataFrame | None, day: str) -> np.ndarray:
    """The scale per horizon for forecasts from `day`'s close, by the rule served_forecasts and the
    API apply (ACI; chosen on the 2014 walk-forward folds: bench/track_walk_forward.py, RESULTS.md),
    from the outcomes of the SCALE_LOOKBACK_DAYS up to `day` (never a later one)."""
    if scores is None or scores.empty:
        return aci_scales(None)
    since = (date.fromisoformat(day) - timedelta(days=SCALE_LOOKBACK_DAYS)).isoformat()
    return aci_scales(scores[(scores["date"] > since) & (scores["date"] <= day)])


def scaled_quantiles(last_close: np.ndarray, quantiles: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Closes' quantiles [B, 5, 3] with each interval widened or narrowed by its horizon's scale
    around the median, in log-returns from the last close [B]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(quantiles / last_close[:, None, None])
    median = logs[..., 1:2]
    scaled = median + scales[None, :, None] * (logs - median)
    return (last_close[:, None, None] * np.exp(scaled)).astype(np.float32)

"""Forecast evaluation against honest baselines computed on the same windows.

Everything is on 5-day log-returns relative to the last input close (log(close_{t+h} / close_t),
h = 1..5), averaged over the horizons. Baselines on the same windows:
- random walk: every return 0 (the last close repeated);
- drift: the training period's mean daily log-return x h ("always up" when it is positive);
- historical volatility band: the median 0 and the 10/90 % quantiles at -/+ 1.2816 sigma sqrt(h),
  sigma being the window's daily log-return volatility (the interval baseline).
Skill = 1 - MAE / MAE(random walk). The Diebold-Mariano test compares absolute errors: the loss
differential is averaged over horizons and over the symbols of each window end date (windows of
one day are not independent), and its variance is Newey-West with h-1 = 4 lags (overlapping
5-day targets).
"""

from __future__ import annotations

import math

import numpy as np

Z90 = 1.2815516
LEVELS = np.array([0.1, 0.5, 0.9])


def log_returns(closes: np.ndarray, last: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(closes / last[:, None])


def window_sigma(price: np.ndarray, floor: float = 1e-3, ceiling: float = 0.5) -> np.ndarray:
    """Daily log-return volatility of each price window [W, 30] (the network's formula)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(np.log(np.clip(price / price[:, -1:], 1e-6, 1e6)), axis=1)
    return np.clip(np.sqrt((returns**2).mean(axis=1) + floor**2), floor, ceiling)


def volatility_band(sigma: np.ndarray, horizon: int = 5) -> np.ndarray:
    """The baseline's quantiles [W, 5, 3] around a zero median."""
    half = Z90 * sigma[:, None] * np.sqrt(np.arange(1, horizon + 1))[None, :]
    return np.stack([-half, np.zeros_like(half), half], axis=-1)


def pinball(quantiles: np.ndarray, actual: np.ndarray) -> float:
    """Mean pinball loss over the 10/50/90 % levels, horizons and windows."""
    diff = actual[..., None] - quantiles
    return float(np.mean(np.maximum(LEVELS * diff, (LEVELS - 1.0) * diff)))


def coverage(quantiles: np.ndarray, actual: np.ndarray) -> float:
    """Share of actual returns inside the 10-90 % interval (80 % when calibrated)."""
    return float(np.mean((actual >= quantiles[..., 0]) & (actual <= quantiles[..., 2])))


def error_metrics(predicted: np.ndarray, actual: np.ndarray, random_walk_mae: float | None = None) -> dict[str, float]:
    diff = predicted - actual
    out = {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}
    if random_walk_mae:
        out["skill"] = 1.0 - out["mae"] / random_walk_mae
    called = (predicted != 0) & (actual != 0)  # a forecast of no move calls no direction
    if called.any():
        out["direction_accuracy"] = float((np.sign(predicted[called]) == np.sign(actual[called])).mean())
        out["direction_calls"] = float(called.mean())
    return out


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, dates: np.ndarray, lags: int = 4) -> dict[str, float]:
    """DM test of equal accuracy (per-window losses [W], window end dates [W]); negative
    statistic = a is better. Two-sided p-value from the normal distribution."""
    diff = loss_a - loss_b
    order = np.unique(dates, return_inverse=True)[1]
    per_day = np.bincount(order, weights=diff) / np.bincount(order)
    n = len(per_day)
    if n < 3:
        return {"statistic": float("nan"), "p_value": float("nan"), "days": n}
    d = per_day - per_day.mean()
    variance = float(d @ d) / n
    for lag in range(1, min(lags, n - 1) + 1):
        variance += 2.0 * (1.0 - lag / (lags + 1)) * float(d[lag:] @ d[:-lag]) / n
    if variance <= 0:
        return {"statistic": 0.0, "p_value": 1.0, "days": n}
    statistic = float(per_day.mean() / math.sqrt(variance / n))
    return {"statistic": statistic, "p_value": float(math.erfc(abs(statistic) / math.sqrt(2.0))), "days": n}


def evaluate(point: np.ndarray, quantiles: np.ndarray, actual: np.ndarray, sigma: np.ndarray, dates: np.ndarray,
             train_daily_drift: float) -> dict[str, dict]:
    """point, actual: log-returns [W, 5]; quantiles [W, 5, 3]; sigma [W]; dates: window end [W]."""
    steps = np.arange(1, actual.shape[1] + 1)
    walk = np.zeros_like(actual)
    walk_mae = float(np.abs(actual).mean())
    drift = np.broadcast_to(train_daily_drift * steps, actual.shape)
    band = volatility_band(sigma, actual.shape[1])
    model = error_metrics(point, actual, walk_mae)
    model["dm_vs_random_walk"] = diebold_mariano(np.abs(point - actual).mean(1), np.abs(actual).mean(1), dates)
    model["coverage_80"] = coverage(quantiles, actual)
    model["pinball"] = pinball(quantiles, actual)
    moves = actual != 0
    return {
        "model": model,
        "random_walk": error_metrics(walk, actual, walk_mae),
        "drift": error_metrics(drift, actual, walk_mae),
        "always_up": {"direction_accuracy": float((actual[moves] > 0).mean()) if moves.any() else float("nan")},
        "volatility_band": {"coverage_80": coverage(band, actual), "pinball": pinball(band, actual)},
        "windows": {"count": int(len(actual)), "days": int(len(np.unique(dates)))},
    }

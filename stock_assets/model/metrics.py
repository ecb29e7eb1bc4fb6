"""Forecast evaluation against honest baselines computed on the same windows.

Everything is on 5-day log-returns relative to the last input close (log(close_{t+h} / close_t),
h = 1..5), averaged over the horizons. Baselines on the same windows:
- random walk: every return 0 (the last close repeated);
- drift: the training period's mean daily log-return x h ("always up" when it is positive);
- historical volatility band: the median 0 and the 10/90 % quantiles at -/+ 1.2816 sigma sqrt(h),
  sigma being the window's daily log-return volatility (the interval baseline).
Skill = 1 - MAE / MAE(random walk). The Diebold-Mariano test compares absolute errors: the loss
differential is averaged over horizons and over the symbols of each window end date (windows of
one day are not independent: the market moves them together; 5-day targets overlap by up to 4
days, so the daily differentials are autocorrelated). Its long-run variance is the equal-weighted
cosine estimate with Student-t(B) p-values, because its size holds on the gate's shapes
(tests/model/test_dm_size.py and bench/dm_size.py: 88 symbols, overlapping targets,
market-correlated errors; one-sided 5 % test, 2,000 null samples): EWC rejects 5.5 % at 60 days
and 5.8 % at 250, where the textbook h-step test (statsmodels' rectangular-kernel HAC with h-1
lags, the Harvey-Leybourne-Newbold correction, Student-t(n-1)) rejects 8.0 % and 6.3 %, and the
earlier hand-written one (Bartlett, normal p-values) 8.8 % and 7.3 %. Pinball loss is scikit-learn's.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, stats
from sklearn.metrics import mean_pinball_loss

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
    if not actual.size:
        return float("nan")
    truth = actual.reshape(-1)
    return float(np.mean([mean_pinball_loss(truth, quantiles[..., i].reshape(-1), alpha=level) for i, level in enumerate(LEVELS)]))


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


def daily_mean(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Per-window values [W] -> their mean per date, in date order."""
    order = np.unique(dates, return_inverse=True)[1]
    return np.bincount(order, weights=values) / np.bincount(order)


def equal_weighted_cosine_bases(n: int) -> int:
    """B of the EWC long-run variance: 0.4 n^(2/3) (Lazarus, Lewis, Stock and Watson 2018), at least 2."""
    return max(2, int(0.4 * n ** (2 / 3)))


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, dates: np.ndarray, horizon: int = 5) -> dict[str, float]:
    """DM test of equal accuracy for h-step forecasts (per-window losses [W], window end dates [W]).

    statistic < 0: a is better. `p_value` is two-sided, `p_a_better` the one-sided p-value of
    "a has the lower expected loss". The long-run variance of the daily loss differential is the
    equal-weighted cosine (EWC) estimate, the projections on the first B cosines being scipy's
    orthonormal DCT-II, and the statistic is Student-t with B degrees of freedom (fixed-smoothing
    asymptotics; Coroneo and Iacone 2020 for DM tests in small samples)."""
    per_day = daily_mean(np.asarray(loss_a, np.float64) - np.asarray(loss_b, np.float64), dates) if len(dates) else np.zeros(0)
    n = len(per_day)
    if n < 2 * horizon:
        return {"statistic": float("nan"), "p_value": float("nan"), "p_a_better": float("nan"), "days": n}
    bases = equal_weighted_cosine_bases(n)
    cosines = fft.dct(per_day - per_day.mean(), type=2, norm="ortho")[1 : bases + 1]
    long_run_variance = float(np.mean(cosines**2))
    if np.allclose(per_day, 0.0, atol=1e-15) or not long_run_variance > 0:
        return {"statistic": 0.0, "p_value": 1.0, "p_a_better": 0.5, "days": n}
    statistic = float(per_day.mean() / math.sqrt(long_run_variance / n))
    return {"statistic": statistic, "p_value": float(2 * stats.t.sf(abs(statistic), bases)),
            "p_a_better": float(stats.t.cdf(statistic, bases)), "days": n}


def rank_ic(predicted: np.ndarray, realised: np.ndarray, dates: np.ndarray, min_symbols: int = 5) -> dict[str, float]:
    """Day-by-day cross-sectional Spearman correlation of predicted vs realised returns [W]:
    its mean, its standard deviation, the ICIR (mean / std) and the days it was defined on
    (at least `min_symbols` symbols and some spread in the prediction)."""
    values = []
    for day in np.unique(dates):
        chosen = dates == day
        p, r = predicted[chosen], realised[chosen]
        if chosen.sum() >= min_symbols and np.ptp(p) > 0 and np.ptp(r) > 0:
            values.append(stats.spearmanr(p, r).statistic)
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "icir": float("nan"), "days": 0}
    ic = np.asarray(values, np.float64)
    std = float(ic.std(ddof=1)) if len(ic) > 1 else float("nan")
    return {"mean": float(ic.mean()), "std": std, "icir": float(ic.mean() / std) if std and math.isfinite(std) else float("nan"),
            "days": len(ic)}


def evaluate(point: np.ndarray, quantiles: np.ndarray, actual: np.ndarray, sigma: np.ndarray, dates: np.ndarray,
             train_daily_drift: float) -> dict[str, dict]:
    """point, actual: log-returns [W, 5]; quantiles [W, 5, 3]; sigma [W]; dates: window end [W]."""
    steps = np.arange(1, actual.shape[1] + 1)
    walk = np.zeros_like(actual)
    walk_mae = float(np.abs(actual).mean())
    drift = np.broadcast_to(train_daily_drift * steps, actual.shape)
    band = volatility_band(sigma, actual.shape[1])
    model = error_metrics(point, actual, walk_mae)
    model["dm_vs_random_walk"] = diebold_mariano(np.abs(point - actual).mean(1), np.abs(actual).mean(1), dates, actual.shape[1])
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

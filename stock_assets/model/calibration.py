"""Post-training fits on the validation split, stored in the network's buffers (and so in the
exported graph): the shrinkage of the predicted returns and the interval calibration.

- shrinkage: per horizon, a factor alpha in [0, 1] on the predicted log-returns: the 95 % lower
  confidence bound (block bootstrap over days) of the alpha that minimises the validation MAE.
  A model without validation skill gets alpha = 0 and serves the random walk.
- interval scale: per horizon and side, the split-conformal factor that puts 10 % of the
  validation returns below the lower quantile and 10 % above the upper one, around the shrunk
  median, taken half-way (geometrically) towards 1: one validation quarter's volatility regime
  over-corrects the next one. Floored at a small positive value so the quantiles stay ordered.

Whether news is served at all is not decided here: the validation split already chose the news
network's epoch and fits its calibration, so the choice between the news network, the separately
trained price-only network and the random walk is the gate's, on windows neither network used
(stock_assets/export/gate.py).

The shrinkage and interval rules were chosen on a development walk-forward over the 2014 quarters of the replay data
(bench/RESULTS.md), never on the 2015 folds that are reported: with a bound at 80 % or no
shrinkage, two of the four development folds lost to the random walk (down to -0.36 %); full
conformal scaling had a worse pinball loss (0.9944x the volatility band) than half-way (0.9912x).
"""

from __future__ import annotations

import numpy as np
from arch.bootstrap import MovingBlockBootstrap

GRID = np.linspace(0.0, 1.0, 101)
MIN_SCALE, MAX_SCALE = 0.05, 20.0


CONFIDENCE = 0.95  # of the shrinkage's lower bound
CONFORMAL_WEIGHT = 0.5  # exponent on the conformal factor: 1 = full conformal, 0 = none


def fit_shrinkage(predicted: np.ndarray, actual: np.ndarray, days: np.ndarray | None = None, confidence: float = CONFIDENCE,
                  replicates: int = 300, block: int = 5, seed: int = 0) -> np.ndarray:
    """predicted, actual: raw log-returns [W, H]; days: each window's end day [W] -> alpha [H].

    The alpha minimising validation MAE moves with noise (a model without skill gets some 0.4 on
    average), so the fit is bootstrapped over days, in blocks of `block` days since 5-day
    targets overlap, and alpha is the lower `confidence` bound of the replicates: the returns
    are only trusted as far as the evidence goes."""
    horizons = actual.shape[1]
    if not len(actual):
        return np.zeros(horizons, dtype=np.float32)
    index, weights = day_bootstrap(days if days is not None else np.arange(len(actual)), replicates, block, seed)
    n = weights.shape[1]
    errors = np.abs(GRID[:, None, None] * predicted[None] - actual[None])  # [G, W, H]
    per_day = np.stack([np.bincount(index, weights=errors[g, :, h], minlength=n) for g in range(len(GRID)) for h in range(horizons)], 1)
    totals = (weights @ per_day).reshape(replicates, len(GRID), horizons)  # [B, G, H]
    best = totals.min(axis=1, keepdims=True)
    chosen = GRID[np.argmax(totals <= best * (1 + 1e-12), axis=1)]  # ties go to the smaller alpha
    return np.quantile(chosen, 1.0 - confidence, axis=0, method="lower").astype(np.float32)


def day_bootstrap(days: np.ndarray, replicates: int = 300, block: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(each window's day index [W], replicate weights per day [B, days]): arch's moving-block
    bootstrap over days, since windows of one day are not independent and 5-day targets overlap."""
    index = np.unique(days, return_inverse=True)[1]
    n = int(index.max()) + 1
    sampler = MovingBlockBootstrap(min(block, n), np.arange(n), seed=np.random.default_rng(seed))
    weights = np.stack([np.bincount(sampler.index, minlength=n) for _ in sampler.bootstrap(replicates)])
    return index, weights


def fit_interval_scale(point: np.ndarray, lower: np.ndarray, upper: np.ndarray, actual: np.ndarray, level: float = 0.1,
                       weight: float = CONFORMAL_WEIGHT) -> np.ndarray:
    """point (shrunk), lower/upper widths (> 0), actual: [W, H] -> scale [2, H]."""
    if not len(actual):
        return np.ones((2, actual.shape[1]), dtype=np.float32)
    residual = actual - point
    n = len(actual)
    # split-conformal quantile with the finite-sample correction
    q = min(1.0, np.ceil((n + 1) * (1.0 - level)) / n)
    below = np.quantile(-residual / np.maximum(lower, 1e-12), q, axis=0)
    above = np.quantile(residual / np.maximum(upper, 1e-12), q, axis=0)
    conformal = np.clip(np.stack([below, above]), MIN_SCALE, MAX_SCALE)
    return (conformal**weight).astype(np.float32)


def random_walk_scale(validation: dict[str, np.ndarray], weight: float = CONFORMAL_WEIGHT) -> np.ndarray:
    """The interval scale [2, H] for serving the random walk (shrinkage 0) with a network's band:
    refitted on its validation outputs around a zero median, not the shrunk one it was fitted for."""
    actual = np.asarray(validation["actual"], np.float64)
    return fit_interval_scale(np.zeros_like(actual), np.asarray(validation["lower"], np.float64),
                              np.asarray(validation["upper"], np.float64), actual, weight=weight)

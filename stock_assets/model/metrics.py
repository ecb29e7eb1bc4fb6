"""Test-split evaluation against honest baselines computed on the same windows.

Errors are on 5-day returns (forecast close / last close - 1), averaged over the 5 horizons.
Baselines: random walk (the last close repeated: every return 0) and drift (the mean daily
return of the training windows, compounded: always up when the training drift is positive).
Direction accuracy compares signs of predicted and actual returns (random walk predicts no
move, so it has none).
"""

from __future__ import annotations

import numpy as np


def returns(forecast: np.ndarray, last: np.ndarray) -> np.ndarray:
    return forecast / last[:, None] - 1.0


def error_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    diff = predicted - actual
    out = {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}
    moves = actual != 0
    if np.any(predicted != 0):
        out["direction_accuracy"] = float((np.sign(predicted[moves]) == np.sign(actual[moves])).mean())
    return out


def evaluate(forecast: np.ndarray, target: np.ndarray, last: np.ndarray, train_daily_drift: float) -> dict[str, dict]:
    """forecast, target: closes [W, 5]; last: last input close [W]."""
    actual = returns(target, last)
    steps = np.arange(1, forecast.shape[1] + 1)
    drift = np.broadcast_to((1.0 + train_daily_drift) ** steps - 1.0, actual.shape)
    return {
        "model": error_metrics(returns(forecast, last), actual),
        "random_walk": error_metrics(np.zeros_like(actual), actual),
        "drift": error_metrics(drift, actual),
        "windows": {"count": int(len(actual))},
    }

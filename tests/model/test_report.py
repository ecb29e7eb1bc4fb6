"""Walk-forward reports: pooled figures come from the folds' own test predictions, and the news
ablation is compared on the same windows."""

import numpy as np
import pytest

from stock_assets.model.metrics import evaluate
from stock_assets.model.report import dm_same_windows, fold_report, pooled_arrays, pooled_report


def state(seed: int, noise: float, days: np.ndarray) -> dict:
    rng = np.random.default_rng(seed)
    actual = rng.standard_normal((len(days), 5)) * 0.02
    point = 0.5 * actual + rng.standard_normal((len(days), 5)) * noise
    quantiles = np.stack([point - 0.03, point, point + 0.03], axis=-1)
    sigma = np.full(len(days), 0.015)
    metrics = evaluate(point, quantiles, actual, sigma, days, 0.0005)
    return {"test_predictions": {"point": point, "quantiles": quantiles, "actual": actual, "sigma": sigma, "end": days, "raw_mean": point},
            "train_drift": 0.0005, "metrics": metrics, "network": "news network"}


def folds():
    results = {}
    for i, fold in enumerate(("2015Q1", "2015Q2")):
        days = np.repeat(np.arange(f"2015-0{1 + 3 * i}-01", f"2015-0{3 + 3 * i}-28", dtype="datetime64[D]"), 6)
        results[fold] = {"news": state(i, 0.005, days), "price": state(i, 0.03, days)}
    return results


def test_pooled_figures_are_those_of_the_concatenated_folds():
    results = folds()
    pooled = pooled_arrays(results, "news")
    assert len(pooled["actual"]) == sum(len(r["news"]["test_predictions"]["actual"]) for r in results.values())
    walk_mae = np.abs(pooled["actual"]).mean()
    model_mae = np.abs(pooled["point"] - pooled["actual"]).mean()
    text = pooled_report(results)
    assert f"{100 * (1 - model_mae / walk_mae):+.2f} %" in text
    assert "News vs the price-only network" in text
    table = fold_report({fold: runs["news"] for fold, runs in results.items()}, results)
    assert "| 2015Q1 |" in table and "| 2015Q2 |" in table
    row = table.splitlines()[-1].split(" | ")
    # news has half the actual return in its forecast: a strong cross-sectional rank IC, and it beats price-only
    assert float(row[-2].split()[0]) > 0.5 and float(row[-1].split()[0]) > 0 and float(row[-3]) < 0.05


def test_news_ablation_needs_the_same_windows():
    results = folds()
    news, price = pooled_arrays(results, "news"), pooled_arrays(results, "price")
    assert dm_same_windows(news, price)["statistic"] < 0  # the less noisy model is better
    with pytest.raises(ValueError, match="same windows"):
        dm_same_windows(news, {k: v[1:] for k, v in price.items()})

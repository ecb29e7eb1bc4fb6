"""Materialization metadata of model_checkpoint: the evaluation as a Markdown table, a plot of
forecast vs actual with the interval coverage per month, and the loss curve."""

from __future__ import annotations


import dagster as dg
import numpy as np

from stock_assets.metadata import figure_png
from stock_assets.model.report import metrics_table


def loss_curve(history: list[dict]) -> str:
    lines = ["| epoch | train loss | validation loss | lr |", "|---|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.5f} | {h['val_loss']:.5f} | {h['lr']:.2e} |" for h in history]
    return "\n".join(lines)


def evaluation_plot(predictions: dict) -> str | None:
    """PNG (base64) of the test split: per day, the mean 5-day log-return forecast (with the mean
    80 % interval) against the actual mean; and the interval coverage per month."""
    if not predictions or not len(predictions["actual"]):
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display in run workers
    import matplotlib.pyplot as plt

    ends = np.asarray(predictions["end"]).astype("datetime64[D]")
    days, index = np.unique(ends, return_inverse=True)
    count = np.bincount(index)

    def daily(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=values) / count

    point, actual, quantiles = (np.asarray(predictions[k], dtype=np.float64) for k in ("point", "actual", "quantiles"))
    inside = ((actual >= quantiles[..., 0]) & (actual <= quantiles[..., 2])).mean(axis=1)
    months = ends.astype("datetime64[M]")
    labels, month_index = np.unique(months, return_inverse=True)
    monthly = np.bincount(month_index, weights=inside) / np.bincount(month_index)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), height_ratios=[2, 1])
    x = days.astype("datetime64[ns]")
    top.fill_between(x, daily(quantiles[:, 4, 0]), daily(quantiles[:, 4, 2]), alpha=0.2, label="mean 80 % interval (5 days)")
    top.plot(x, daily(actual[:, 4]), lw=1, color="black", label="actual 5-day log-return (mean over symbols)")
    top.plot(x, daily(point[:, 4]), lw=1.5, color="tab:blue", label="forecast")
    top.axhline(0, color="grey", lw=0.5)
    top.legend(fontsize=7, loc="upper left")
    top.set_title("Test split: forecast vs actual", fontsize=9)
    bottom.bar([str(m) for m in labels], monthly, color="tab:green")
    bottom.axhline(0.8, color="red", lw=1, ls="--")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("80 % coverage", fontsize=8)
    bottom.tick_params(labelsize=7)
    top.tick_params(labelsize=7)
    return figure_png(figure)


def checkpoint_metadata(best: dict, ablation: dict | None) -> dict:
    metrics = best.get("metrics") or {}
    params = sum(t.numel() for t in best["model_state"].values())
    out = {
        "parameters": params,
        "size": best.get("size", ""),
        "trained_epochs": len(best["history"]),
        "watermark": best["watermark"],
        "loss_curve": dg.MetadataValue.md(loss_curve(best["history"])),
    }
    calibration = best.get("calibration")
    if calibration:
        out["shrinkage"] = ", ".join(f"{a:.2f}" for a in calibration["shrinkage"])
    splits = best.get("splits") or {}
    out["validation_start"] = splits.get("validation_start") or "–"
    out["test_start"] = splits.get("test_start") or "–"
    out["fitted_until"] = (best.get("fitted") or {}).get("validation") or "–"  # the gate scores only windows after it
    if best.get("start"):
        out["start"] = best["start"]  # resumed, or from scratch and why
    if metrics:
        text = metrics_table(metrics, (ablation or {}).get("metrics") if ablation else None)
        image = evaluation_plot(best.get("test_predictions"))
        if image:
            text += f"\n\n![forecast vs actual and interval coverage](data:image/png;base64,{image})"
        out["evaluation"] = dg.MetadataValue.md(text)
        out["test_windows"] = metrics["windows"]["count"]
        out["skill"] = metrics["model"]["skill"]
        out["coverage_80"] = metrics["model"]["coverage_80"]
        out["mae_model"] = metrics["model"]["mae"]
        out["mae_random_walk"] = metrics["random_walk"]["mae"]
        if ablation and ablation.get("metrics"):
            out["mae_price_only"] = ablation["metrics"]["model"]["mae"]
    return out

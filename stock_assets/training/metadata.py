"""Materialization metadata of model_checkpoint: metrics against baselines and the loss curve."""

from __future__ import annotations

import dagster as dg

ROWS = (("model", "model (news)"), ("price_only", "model without news"), ("random_walk", "random walk"), ("drift", "drift (always up)"))


def metrics_table(metrics: dict, ablation: dict | None) -> str:
    rows = dict(metrics)
    if ablation and ablation.get("metrics"):
        rows["price_only"] = ablation["metrics"]["model"]
    lines = ["| forecaster | MAE (5-day returns) | RMSE | direction accuracy |", "|---|---|---|---|"]
    for key, label in ROWS:
        if key in rows:
            m = rows[key]
            direction = f"{m['direction_accuracy']:.3f}" if "direction_accuracy" in m else "–"
            lines.append(f"| {label} | {m['mae']:.5f} | {m['rmse']:.5f} | {direction} |")
    return "\n".join(lines)


def loss_curve(history: list[dict]) -> str:
    lines = ["| epoch | train loss | validation loss | lr |", "|---|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.6f} | {h['val_loss']:.6f} | {h['lr']:.2e} |" for h in history]
    return "\n".join(lines)


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
    if metrics:
        out["evaluation"] = dg.MetadataValue.md(metrics_table(metrics, ablation))
        out["test_windows"] = metrics["windows"]["count"]
        out["mae_model"] = metrics["model"]["mae"]
        out["mae_random_walk"] = metrics["random_walk"]["mae"]
        if ablation and ablation.get("metrics"):
            out["mae_price_only"] = ablation["metrics"]["model"]["mae"]
    return out

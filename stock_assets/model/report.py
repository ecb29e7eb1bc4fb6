"""Markdown reports of evaluations: one checkpoint's test split, walk-forward folds, pooled.

`results[fold][variant]["state"]` is a best checkpoint written by train.py (variants `news` and,
for the ablation, `price`)."""

from __future__ import annotations

import numpy as np

from stock_assets.model.metrics import diebold_mariano, evaluate


def pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:+.{digits}f} %"


def num(value: float | None, digits: int = 5) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def direction(m: dict) -> str:
    return f"{m['direction_accuracy']:.3f}" if "direction_accuracy" in m else "– (no move called)"


def metrics_table(metrics: dict, ablation: dict | None = None) -> str:
    """One evaluation (train.evaluate's dict) as a table of forecasters against the baselines."""
    if not metrics:
        return "_no test windows_"
    model, walk, drift, band = metrics["model"], metrics["random_walk"], metrics["drift"], metrics["volatility_band"]
    rows = [("model (news)" if ablation is not None else "model", model, model.get("coverage_80"), model.get("pinball"))]
    if ablation:
        a = ablation["model"]
        rows.append(("same network without news", a, a.get("coverage_80"), a.get("pinball")))
    rows += [("random walk", walk, band["coverage_80"], band["pinball"]), ("drift", drift, None, None)]
    lines = ["| forecaster | MAE (5-day log-returns) | RMSE | skill vs random walk | direction accuracy | 80 % interval coverage | pinball loss |",
             "|---|---|---|---|---|---|---|"]
    for label, m, cov, pin in rows:
        lines.append(f"| {label} | {num(m['mae'])} | {num(m['rmse'])} | {pct(m.get('skill'))} | {direction(m)} | "
                     f"{num(cov, 3)} | {num(pin, 6)} |")
    lines.append(f"| always up | | | | {metrics['always_up']['direction_accuracy']:.3f} | | |")
    dm = model["dm_vs_random_walk"]
    lines.append("")
    lines.append(f"{metrics['windows']['count']} windows on {metrics['windows']['days']} days. Intervals of the random walk "
                 f"row: the historical-volatility band. Diebold-Mariano vs the random walk: statistic {num(dm['statistic'], 2)}, "
                 f"p = {num(dm['p_value'], 3)} (negative = the model is better).")
    return "\n".join(lines)


def pooled_arrays(results: dict, variant: str) -> dict[str, np.ndarray]:
    parts: dict[str, list] = {k: [] for k in ("point", "quantiles", "actual", "sigma", "end", "drift")}
    for runs in results.values():
        state = runs[variant]["state"]
        predictions = state["test_predictions"]
        for key in ("point", "quantiles", "actual", "sigma", "end"):
            parts[key].append(np.asarray(predictions[key]))
        parts["drift"].append(np.full((len(predictions["actual"]), 1), state["train_drift"]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def pooled_metrics(results: dict, variant: str) -> dict:
    a = pooled_arrays(results, variant)
    return evaluate(a["point"].astype(np.float64), a["quantiles"].astype(np.float64), a["actual"].astype(np.float64),
                    a["sigma"].astype(np.float64), a["end"], a["drift"])


def news_vs_price(news: dict[str, np.ndarray], price: dict[str, np.ndarray]) -> dict[str, float]:
    if news["actual"].shape != price["actual"].shape or not np.array_equal(news["end"], price["end"]):
        raise ValueError("the news and price-only models were not evaluated on the same windows")
    loss_news = np.abs(news["point"] - news["actual"]).mean(1)
    loss_price = np.abs(price["point"] - price["actual"]).mean(1)
    return diebold_mariano(loss_news.astype(np.float64), loss_price.astype(np.float64), news["end"])


def fold_report(results: dict, primary: str = "news") -> str:
    lines = ["| fold | windows | skill (news) | skill (price only) | DM p vs RW (news) | direction news / always up | "
             "coverage 80 % (news) | pinball news / vol band | shrinkage α (news) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fold, runs in results.items():
        m = runs[primary]["state"]["metrics"]
        price = runs.get("price", {}).get("state", {}).get("metrics", {}).get("model", {})
        model = m["model"]
        calibration = runs[primary]["state"]["calibration"]
        alpha = calibration["shrinkage"]
        news = {True: " (news on)", False: " (news off)"}.get(calibration.get("news_used"), "")
        lines.append(
            f"| {fold} | {m['windows']['count']} | {pct(model['skill'])} | {pct(price.get('skill'))} | "
            f"{num(model['dm_vs_random_walk']['p_value'], 3)} | {direction(model)} / {m['always_up']['direction_accuracy']:.3f} | "
            f"{model['coverage_80']:.3f} | {model['pinball']:.6f} / {m['volatility_band']['pinball']:.6f} | "
            f"{', '.join(f'{a:.2f}' for a in alpha)}{news} |")
    return "Per fold (test quarter; each model trained only on data before it):\n\n" + "\n".join(lines)


def pooled_report(results: dict, primary: str = "news") -> str:
    news = pooled_metrics(results, primary)
    has_price = primary != "price" and all("price" in runs for runs in results.values())
    price = pooled_metrics(results, "price") if has_price else None
    text = "Pooled over the folds:\n\n" + metrics_table(news, price)
    if has_price:
        dm = news_vs_price(pooled_arrays(results, "news"), pooled_arrays(results, "price"))
        text += (f"\n\nNews vs the same network without news (Diebold-Mariano on absolute errors): statistic "
                 f"{num(dm['statistic'], 2)}, p = {num(dm['p_value'], 3)} (negative = news helps).")
    return text

"""Markdown reports of evaluations: one checkpoint's test split, walk-forward folds, pooled.

`results[fold][variant]` is a checkpoint-like record (test predictions, train drift, figures) of
a network on a fold's windows (variants `news` and, for the ablation, `price`)."""

from __future__ import annotations

import numpy as np

from stock_assets.model.metrics import diebold_mariano, evaluate, rank_ic


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
        rows.append(("price-only network", a, a.get("coverage_80"), a.get("pinball")))
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
                 f"two-sided p = {num(dm['p_value'], 3)} (negative = the model is better; EWC variance, Student-t).")
    return "\n".join(lines)


def pooled_arrays(results: dict, variant: str) -> dict[str, np.ndarray]:
    parts: dict[str, list] = {k: [] for k in ("point", "quantiles", "actual", "sigma", "end", "drift")}
    for runs in results.values():
        state = runs[variant]
        predictions = state["test_predictions"]
        for key in ("point", "quantiles", "actual", "sigma", "end"):
            parts[key].append(np.asarray(predictions[key]))
        parts["drift"].append(np.full((len(predictions["actual"]), 1), state["train_drift"]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def pooled_metrics(results: dict, variant: str) -> dict:
    a = pooled_arrays(results, variant)
    return evaluate(a["point"].astype(np.float64), a["quantiles"].astype(np.float64), a["actual"].astype(np.float64),
                    a["sigma"].astype(np.float64), a["end"], a["drift"])


def dm_same_windows(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """The corrected DM test of network a (e.g. news) against network b (e.g. price-only) on the
    same windows; p_a_better is the one-sided p of "a is better"."""
    if a["actual"].shape != b["actual"].shape or not np.array_equal(a["end"], b["end"]):
        raise ValueError("the two networks were not evaluated on the same windows")
    loss_a = np.abs(a["point"] - a["actual"]).mean(1)
    loss_b = np.abs(b["point"] - b["actual"]).mean(1)
    return diebold_mariano(loss_a.astype(np.float64), loss_b.astype(np.float64), a["end"])


def ranking(record: dict) -> dict[str, float]:
    """Cross-sectional rank IC of the raw (unshrunk) 5-day forecast against the realised 5-day return."""
    p = record["test_predictions"]
    return rank_ic(np.asarray(p["raw_mean"])[:, -1], np.asarray(p["actual"])[:, -1], np.asarray(p["end"]))


def ic(value: dict[str, float]) -> str:
    return f"{num(value['mean'], 4)} ({num(value['icir'], 2)})"


def fold_report(served: dict, trained: dict) -> str:
    """served[fold]: the served record on the fold's windows; trained[fold][variant]: each network
    as trained on the same windows (variants news and, for the ablation, price)."""
    lines = ["| fold | windows | served | served skill | one-sided DM p (served better than RW) | coverage 80 % | "
             "pinball served / vol band | skill as trained: news / price-only | one-sided DM p (news better than price-only) | "
             "rank IC news (ICIR) | rank IC price-only (ICIR) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fold, record in served.items():
        m = record["metrics"]
        model = m["model"]
        news, price = trained[fold]["news"], trained[fold].get("price")
        versus = dm_same_windows(news["test_predictions"], price["test_predictions"])["p_a_better"] if price else float("nan")
        lines.append(
            f"| {fold} | {m['windows']['count']} | {record.get('network', '–')} | {pct(model['skill'], 3)} | "
            f"{num(model['dm_vs_random_walk']['p_a_better'], 3)} | {model['coverage_80']:.3f} | "
            f"{model['pinball']:.6f} / {m['volatility_band']['pinball']:.6f} | "
            f"{pct(news['metrics']['model']['skill'], 3)} / {pct(price['metrics']['model']['skill'], 3) if price else '–'} | "
            f"{num(versus, 3)} | {ic(ranking(news))} | {ic(ranking(price)) if price else '–'} |")
    return "Per fold (each fold's windows; every network trained only on data before it):\n\n" + "\n".join(lines)


def pooled_report(results: dict, primary: str = "news", title: str = "Pooled over the folds") -> str:
    news = pooled_metrics(results, primary)
    has_price = primary != "price" and all("price" in runs for runs in results.values())
    price = pooled_metrics(results, "price") if has_price else None
    text = f"{title}:\n\n" + metrics_table(news, price)
    if has_price:
        dm = dm_same_windows(pooled_arrays(results, "news"), pooled_arrays(results, "price"))
        text += (f"\n\nNews vs the price-only network (Diebold-Mariano on absolute errors, EWC variance, Student-t): statistic "
                 f"{num(dm['statistic'], 2)}, two-sided p = {num(dm['p_value'], 3)}, one-sided p (news better) = "
                 f"{num(dm['p_a_better'], 3)} (negative = news helps).")
    return text

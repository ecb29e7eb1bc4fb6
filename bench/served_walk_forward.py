"""The served model in a walk-forward: what production would have served in each fold.

Production never serves a network as it comes out of training: `onnx_model` chooses between the
news network, the separately trained price-only network and the random walk on the gate windows,
and publishes the choice unless it is significantly worse than the served version
(stock_assets/export/gate.py). This module replays that protocol with production's functions
(`choose`, `judge`, `random_walk_scale`) on the checkpoints' recorded predictions:

- the challengers for fold Q (news and price-only) train on a panel that ends where Q starts, with
  production's splits counted in sessions from that end: test = the last `test_sessions` sessions
  before Q, validation = the `validation_sessions` before them, training = everything earlier;
- the gate windows are the latest `limit` test-split windows whose targets are all known before Q
  (they lie wholly after every day either network was trained, early-stopped or calibrated on);
- the served version for Q is the published one; its figures on Q are the served figures.

A fold's windows are those ending in the quarter whose 5 targets also fall in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stock_assets.export.gate import NEWS, PRICE, RANDOM_WALK, Forecasts, choose, judge, p_better, scores_of
from stock_assets.model.calibration import fit_interval_scale, fit_shrinkage, random_walk_scale
from stock_assets.model.metrics import evaluate
from stock_assets.model.network import HORIZON


def recalibrated(state: dict, confidence: float) -> dict:
    """The checkpoint as train.py would have written it with another shrinkage bound: calibration
    is fitted after training on the recorded raw validation outputs, so refitting it offline on
    them is exactly a retraining with the other constant (for choosing the rule on development folds)."""
    v, t = state["validation_predictions"], dict(state["test_predictions"])
    vm, vl, vu, va = (np.asarray(v[k], np.float64) for k in ("mean", "lower", "upper", "actual"))
    alpha = fit_shrinkage(vm, va, np.asarray(v["end"]), confidence)
    scale = fit_interval_scale(alpha * vm, vl, vu, va)
    point = alpha * np.asarray(t["raw_mean"], np.float64)
    t["point"] = point
    t["quantiles"] = np.stack([point - scale[0] * np.asarray(t["raw_lower"], np.float64), point,
                               point + scale[1] * np.asarray(t["raw_upper"], np.float64)], axis=-1)
    return {**state, "test_predictions": t, "calibration": {**state["calibration"], "shrinkage": alpha.round(3).tolist()}}


def quarter_start(name: str, shift: int = 0) -> str:
    """'2015Q2', shift -1 -> '2015-01-01' (the first day of the quarter `shift` quarters away)."""
    index = int(name[:4]) * 4 + int(name[-1]) - 1 + shift
    return f"{index // 4}-{index % 4 * 3 + 1:02d}-01"


def fold_splits(sessions: np.ndarray, fold: str, last_fold: str, validation_sessions: int, test_sessions: int) -> tuple[str, str, str]:
    """(validation start, test start, test end) of the challengers trained for `fold`: production's
    default splits on a panel ending the day before the fold; the test split runs on to the end of
    the last fold so the checkpoint's test predictions cover the gate windows and the fold."""
    q = int(np.searchsorted(sessions, np.datetime64(quarter_start(fold))))
    first = q - test_sessions - validation_sessions
    if first < 1:
        raise SystemExit(f"{fold}: {q} sessions before it, fewer than validation + test ({validation_sessions} + {test_sessions}) + 1")
    return str(sessions[first]), str(sessions[q - test_sessions]), quarter_start(last_fold, 1)


def in_period(ends: np.ndarray, sessions: np.ndarray, start: str | None, stop: str) -> np.ndarray:
    """Windows (end days) ending on or after `start` (None: any) whose last target is before `stop`."""
    ends = ends.astype("datetime64[D]")
    position = np.searchsorted(sessions, ends)
    complete = position + HORIZON < len(sessions)
    target_day = sessions[np.minimum(position + HORIZON, len(sessions) - 1)]
    after = ends >= np.datetime64(start) if start else np.ones(len(ends), bool)
    return after & (ends < np.datetime64(stop)) & (target_day < np.datetime64(stop)) & complete


@dataclass(frozen=True)
class Version:
    """A published version: what `network` served from the checkpoints trained for `fold`."""

    fold: str
    network: str

    @property
    def label(self) -> str:
        return f"{self.fold} {self.network}"


def keys(p: dict) -> np.ndarray:
    return np.asarray(p["symbol"]).astype(np.int64) * 10**6 + np.asarray(p["end"]).astype("datetime64[D]").astype(np.int64)


def forecasts(runs: dict[str, dict], network: str, wanted: np.ndarray) -> Forecasts:
    """The version's served log-returns on the windows `wanted` (keys), from the recorded test
    predictions; the random walk serves the price-only network's band (the news network's when
    there is none) with the interval scale refitted for a zero median, as onnx_model exports it."""
    state = runs["price" if network == PRICE or (network == RANDOM_WALK and "price" in runs) else "news"]
    p = state["test_predictions"]
    row = {k: i for i, k in enumerate(keys(p))}
    missing = [k for k in wanted if k not in row]
    if missing:
        raise ValueError(f"{len(missing)} gate/fold windows are not in the {network}'s test predictions")
    index = np.array([row[k] for k in wanted], dtype=np.int64)
    actual = np.asarray(p["actual"], np.float64)[index]
    days = np.asarray(p["end"]).astype("datetime64[D]")[index]
    if network == RANDOM_WALK:
        scale = random_walk_scale(state["validation_predictions"]).astype(np.float64)
        lower = scale[0] * np.asarray(p["raw_lower"], np.float64)[index]
        upper = scale[1] * np.asarray(p["raw_upper"], np.float64)[index]
        zero = np.zeros_like(actual)
        return Forecasts(zero, np.stack([-lower, zero, upper], axis=-1), actual, days)
    return Forecasts(np.asarray(p["point"], np.float64)[index], np.asarray(p["quantiles"], np.float64)[index], actual, days)


def gate_keys(state: dict, sessions: np.ndarray, fold_start: str, limit: int) -> np.ndarray:
    """The latest `limit` test-split windows whose targets are known before the fold opens."""
    p = state["test_predictions"]
    chosen = np.flatnonzero(in_period(np.asarray(p["end"]), sessions, None, fold_start))
    order = chosen[np.argsort(np.asarray(p["end"])[chosen], kind="stable")][-limit:]
    return keys(p)[order]


def fold_keys(state: dict, sessions: np.ndarray, fold: str) -> np.ndarray:
    p = state["test_predictions"]
    return keys(p)[in_period(np.asarray(p["end"]), sessions, quarter_start(fold), quarter_start(fold, 1))]


def record(runs: dict[str, dict], network: str, wanted: np.ndarray) -> dict:
    """A checkpoint-like record of one network (as trained, or as served) on the windows `wanted`,
    for stock_assets/model/report.py: served log-returns, the raw median (for the rank IC) and figures."""
    f = forecasts(runs, network, wanted)
    state = runs["price" if network == PRICE else "news"]
    p = state["test_predictions"]
    row = {k: i for i, k in enumerate(keys(p))}
    index = np.array([row[k] for k in wanted], dtype=np.int64)
    sigma = np.asarray(p["sigma"], np.float64)[index]
    raw = np.zeros_like(f.point) if network == RANDOM_WALK else np.asarray(p["raw_mean"], np.float64)[index]
    metrics = evaluate(f.point, f.band, f.actual, sigma, f.days, state["train_drift"]) if len(wanted) else {}
    return {"test_predictions": {"point": f.point, "quantiles": f.band, "actual": f.actual, "sigma": sigma, "end": f.days, "raw_mean": raw},
            "train_drift": state["train_drift"], "metrics": metrics, "network": network}


def simulate(challengers: dict[str, dict[str, dict]], sessions: np.ndarray, limit: int, evidence_p: float) -> tuple[dict[str, dict], list[dict]]:
    """challengers: fold -> {"news": best checkpoint, "price": best checkpoint (optional)}, in fold
    order. Returns (fold -> served checkpoint-like record, the gate's decisions)."""
    champion: Version | None = None
    served, decisions = {}, []
    for number, (fold, runs) in enumerate(challengers.items(), start=1):
        wanted = gate_keys(runs["news"], sessions, quarter_start(fold), limit)
        news = forecasts(runs, NEWS, wanted)
        price = forecasts(runs, PRICE, wanted) if "price" in runs else None
        network, reason = choose(news, price, evidence_p)
        challenger = forecasts(runs, network, wanted)
        current = forecasts(challengers[champion.fold], champion.network, wanted) if champion else None
        published, unchanged, judged = judge(challenger, current, number - 1 if champion else None, evidence_p)
        if published:
            champion = Version(fold, network)
        rw = news.as_random_walk(news.band)
        decisions.append({
            "fold": fold, "gate_windows": len(wanted), "gate_days": f"{news.days.min()}..{news.days.max()}",
            "network": network, "published": published, "served": champion.label if champion else "nothing",
            "p_news": p_better(news, rw), "p_price": p_better(price, rw) if price is not None else float("nan"),
            "p_news_price": p_better(news, price) if price is not None else float("nan"),
            "skill_news": scores_of(news).skill, "skill_price": scores_of(price).skill if price is not None else float("nan"),
            "decision": f"{network}: {reason}; {judged}",
        })
        if champion is None:
            raise SystemExit(f"{fold}: the gate published nothing and nothing was served before: {judged}")
        served[fold] = record(challengers[champion.fold], champion.network, fold_keys(runs["news"], sessions, fold))
    return served, decisions


def decisions_report(rows: list[dict]) -> str:
    lines = ["| fold | gate windows (days) | skill news / price-only there | p vs RW: news / price-only | p news vs price-only | "
             "chosen | published? | served in the fold |", "|---|---|---|---|---|---|---|---|"]
    for d in rows:
        lines.append(f"| {d['fold']} | {d['gate_windows']} ({d['gate_days']}) | {100 * d['skill_news']:+.3f} % / {100 * d['skill_price']:+.3f} % | "
                     f"{d['p_news']:.3f} / {d['p_price']:.3f} | {d['p_news_price']:.3f} | {d['network']} | "
                     f"{'yes' if d['published'] else 'no'} | {d['served']} |")
    return "The gate's selection figures (windows before each fold; they decide, so they are not the fold's figures):\n\n" + "\n".join(lines)

"""The served model in a walk-forward: what production would have served in each fold.

Production never serves a model as it comes out of training: `onnx_model` publishes a new
version only when the champion/challenger gate passes (stock_assets/export/gate.py) on the
panel's test split, windows the challenger did not use at all, and otherwise the served version
stays. The fold figures of a model "as trained" therefore overstate what users get when a bad
challenger appears, and understate it never. This module replays the production protocol:

- the challenger for fold Q_k trains with validation Q_{k-2} and a test split from Q_{k-1} on
  (production's train < validation < test, with the panel ending where Q_k starts);
- the gate scores it and the champion (the version served during Q_{k-1}) on the latest
  `gate_windows` windows of Q_{k-1} whose targets are all known before Q_k starts, with
  production's rules (`random_walk_reason`, `decide`), tolerance and evidence level: a challenger
  without significant skill there, or worse than the random walk while nothing is served, is
  published with shrinkage 0 (the random walk with its band); `evidence_p=1` turns the evidence
  rule off (the gate as it was before it);
- the served model for Q_k is the published version; its figures on Q_k are the served figures.

A fold's windows are those ending in the quarter whose 5 targets also fall in it, as in the
"as trained" protocol, so both protocols are scored on the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stock_assets.export.gate import Scores, decide, random_walk_reason, scores_of
from stock_assets.model.metrics import evaluate
from stock_assets.model.network import HORIZON


def quarter_start(name: str, shift: int = 0) -> str:
    """'2015Q2', shift -1 -> '2015-01-01' (the first day of the quarter `shift` quarters away)."""
    index = int(name[:4]) * 4 + int(name[-1]) - 1 + shift
    return f"{index // 4}-{index % 4 * 3 + 1:02d}-01"


def served_split(fold: str, last_fold: str) -> tuple[str, str, str]:
    """(validation start, test start, test end) of the challenger trained for `fold`."""
    return quarter_start(fold, -2), quarter_start(fold, -1), quarter_start(last_fold, 1)


def in_quarter(ends: np.ndarray, sessions: np.ndarray, start: str, stop: str) -> np.ndarray:
    """Windows (end days) that end in [start, stop) with their last target before `stop`."""
    position = np.searchsorted(sessions, ends.astype("datetime64[D]"))
    target_day = sessions[np.minimum(position + HORIZON, len(sessions) - 1)]
    complete = position + HORIZON < len(sessions)
    return (ends >= np.datetime64(start)) & (ends < np.datetime64(stop)) & (target_day < np.datetime64(stop)) & complete


@dataclass
class Version:
    """A published version: the challenger of `fold`, as trained or with shrinkage 0."""

    fold: str
    random_walk: bool = False

    @property
    def label(self) -> str:
        return f"{self.fold} challenger" + (" at shrinkage 0 (random walk)" if self.random_walk else "")


def predictions(state: dict, mask: np.ndarray, random_walk: bool = False) -> dict[str, np.ndarray]:
    """The test predictions of a checkpoint on the masked windows; at shrinkage 0 the point is
    the random walk and the band keeps its calibrated widths around it."""
    p = state["test_predictions"]
    out = {k: np.asarray(p[k])[mask] for k in ("point", "quantiles", "actual", "sigma", "end", "symbol")}
    if random_walk:
        out["quantiles"] = out["quantiles"] - out["point"][..., None]
        out["point"] = np.zeros_like(out["point"])
    return out


def scores(p: dict[str, np.ndarray], limit: int) -> Scores | None:
    """The gate's figures (export/gate.scores_of) on the latest `limit` windows."""
    if not len(p["end"]):
        return None
    latest = np.argsort(p["end"], kind="stable")[-limit:]
    point, band, actual = (p[k][latest].astype(np.float64) for k in ("point", "quantiles", "actual"))
    return scores_of(point, band, actual, p["end"][latest])


def served_state(state: dict, p: dict[str, np.ndarray], random_walk: bool) -> dict:
    """A checkpoint-like record of what was served in a fold, for the fold and pooled reports."""
    drift = state["train_drift"]
    calibration = dict(state["calibration"])
    if random_walk:
        calibration["shrinkage"] = [0.0] * len(calibration["shrinkage"])
    metrics = evaluate(p["point"].astype(np.float64), p["quantiles"].astype(np.float64), p["actual"].astype(np.float64),
                       p["sigma"].astype(np.float64), p["end"], drift) if len(p["end"]) else {}
    return {"test_predictions": p, "train_drift": drift, "metrics": metrics, "calibration": calibration}


def simulate(challengers: dict[str, dict], sessions: np.ndarray, tolerance: float, limit: int,
             evidence_p: float) -> tuple[dict[str, dict], list[dict]]:
    """challengers: fold -> best checkpoint of the challenger trained for it (served_split), in
    fold order. Returns (fold -> served checkpoint-like record, the gate's decisions)."""
    folds = list(challengers)
    champion: Version | None = None
    served, decisions = {}, []
    for fold in folds:
        gate_start, fold_start, fold_stop = quarter_start(fold, -1), quarter_start(fold), quarter_start(fold, 1)

        def on(version: Version, start: str, stop: str) -> dict[str, np.ndarray]:
            state = challengers[version.fold]
            return predictions(state, in_quarter(np.asarray(state["test_predictions"]["end"]), sessions, start, stop), version.random_walk)

        challenger = Version(fold)
        challenger_scores = scores(on(challenger, gate_start, fold_start), limit)
        champion_scores = scores(on(champion, gate_start, fold_start), limit) if champion else None
        champion_number = folds.index(champion.fold) + 1 if champion else None
        trained_scores = challenger_scores
        fallback = random_walk_reason(challenger_scores, champion_number, evidence_p)
        if fallback:  # as onnx_model does
            challenger = Version(fold, random_walk=True)
            challenger_scores = scores(on(challenger, gate_start, fold_start), limit)
        published, reason = decide(challenger_scores, champion_scores, champion_number, tolerance, fallback or "")
        if published:
            champion = challenger
        decisions.append({"fold": fold, "published": published, "decision": reason, "served": champion.label if champion else "nothing",
                          "challenger_gate_skill": trained_scores.skill if trained_scores else float("nan"),
                          "challenger_gate_p": trained_scores.p_value if trained_scores else float("nan"),
                          "gate_windows": trained_scores.windows if trained_scores else 0})
        if champion is None:
            raise SystemExit(f"{fold}: the gate published nothing and nothing was served before: {reason}")
        served[fold] = served_state(challengers[champion.fold], on(champion, fold_start, fold_stop), champion.random_walk)
    return served, decisions


def decisions_report(decisions: dict[str, list[dict]]) -> str:
    """variant -> decisions, as a Markdown table per fold."""
    lines = ["| fold | variant | gate windows (previous quarter) | challenger skill there (one-sided DM p) | published? | served in the fold | gate's words |",
             "|---|---|---|---|---|---|---|"]
    for variant, rows in decisions.items():
        for d in rows:
            lines.append(f"| {d['fold']} | {variant} | {d['gate_windows']} | {100 * d['challenger_gate_skill']:+.2f} % ({d['challenger_gate_p']:.2f}) | "
                         f"{'yes' if d['published'] else 'no'} | {d['served']} | {d['decision']} |")
    return "\n".join(lines)

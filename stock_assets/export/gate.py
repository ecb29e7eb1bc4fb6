"""Champion/challenger gate: a new model version is published only when its forecast is at least
as good as the random walk and not worse than the served version's, measured on the same
recent windows (the panel's test split: windows the challenger did not use at all).
Both models are scored as exported (ONNX through onnxruntime), so the gate judges exactly
what Triton would serve.

A forecast moves away from the last close only with evidence: a challenger whose gain over the
random walk on those windows is not significant (one-sided Diebold-Mariano p-value at or above
`evidence_p`) is published with shrinkage 0, i.e. as the random walk with its freshly calibrated
band. A walk-forward of the gate (bench/served_walk_forward.py) showed why: challengers with
+0.02 to +0.04 % on their gate quarter (p 0.3-0.7) lost 0.02 % on the next one. When nothing is
served yet and the challenger as trained is worse than the random walk, it is likewise published
with shrinkage 0 rather than leaving nothing to serve; with a served version, a challenger worse
than the random walk is not published at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stock_assets.model.metrics import coverage, diebold_mariano, error_metrics, window_sigma
from stock_assets.model.network import HORIZON
from stock_assets.model.panel import SPLITS, Panel, window_tensors

BATCH = 256


@dataclass
class Scores:
    skill: float
    mae: float
    mae_random_walk: float
    coverage_80: float
    direction_accuracy: float | None
    windows: int
    first_day: str
    last_day: str
    p_value: float = 1.0  # one-sided Diebold-Mariano p-value of "better than the random walk"

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def recent_windows(panel: Panel, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(symbol, end) of the latest `limit` windows of the test split, which the challenger never
    saw (not for training, early stopping or calibration); the validation split when there is
    no test split."""
    split = SPLITS["test"] if (panel.windows["split"] == SPLITS["test"]).any() else SPLITS["validation"]
    chosen = panel.windows["split"] == split
    symbol, end = panel.windows["symbol"][chosen], panel.windows["end"][chosen]
    order = np.argsort(end, kind="stable")[-limit:]
    return symbol[order], end[order]


def score(session, panel: Panel, symbols: np.ndarray, ends: np.ndarray) -> Scores | None:
    """Run an exported model over the windows in batches; None when there are none."""
    if not len(ends):
        return None
    points, bands, actuals, sigmas = [], [], [], []
    for start in range(0, len(ends), BATCH):
        pairs = [window_tensors(panel, int(s), int(t)) for s, t in zip(symbols[start : start + BATCH], ends[start : start + BATCH])]
        price = np.stack([p for p, _ in pairs])
        news = np.stack([n for _, n in pairs])
        forecast, quantiles = session.run(["forecast", "forecast_quantiles"], {"price_input": price, "news_input": news})
        last = price[:, -1, 0].astype(np.float64)
        targets = np.stack([panel.close[t + 1 : t + 1 + HORIZON, s] for s, t in zip(symbols[start : start + BATCH], ends[start : start + BATCH])])
        points.append(np.log(forecast / last[:, None]))
        bands.append(np.log(quantiles / last[:, None, None]))
        actuals.append(np.log(targets / last[:, None]))
        sigmas.append(window_sigma(price[:, :, 0].astype(np.float64)))
    return scores_of(np.concatenate(points), np.concatenate(bands), np.concatenate(actuals), panel.sessions[ends])


def scores_of(point: np.ndarray, band: np.ndarray, actual: np.ndarray, days: np.ndarray) -> Scores:
    """The gate's figures from log-returns: point, actual [W, 5], band [W, 5, 3], window end days [W]."""
    walk_mae = float(np.abs(actual).mean())
    m = error_metrics(point, actual, walk_mae)
    return Scores(
        skill=m["skill"], mae=m["mae"], mae_random_walk=walk_mae, coverage_80=coverage(band, actual),
        direction_accuracy=m.get("direction_accuracy"), windows=int(len(actual)), first_day=str(days.min()), last_day=str(days.max()),
        p_value=better_than_random_walk_p(point, actual, days),
    )


def better_than_random_walk_p(point: np.ndarray, actual: np.ndarray, days: np.ndarray) -> float:
    """One-sided Diebold-Mariano p-value of "lower absolute error than the random walk"."""
    if not np.any(point):
        return 1.0  # it is the random walk
    dm = diebold_mariano(np.abs(point - actual).mean(1), np.abs(actual).mean(1), days)
    if not np.isfinite(dm["p_value"]):
        return 1.0
    return dm["p_value"] / 2 if dm["statistic"] < 0 else 1.0 - dm["p_value"] / 2


def random_walk_reason(challenger: Scores | None, champion_version: int | None, evidence_p: float) -> str | None:
    """Why the challenger is to be published with shrinkage 0 (as the random walk with its
    calibrated band), or None when it stands as trained (or, worse than the random walk while a
    version is served, is not published at all)."""
    if challenger is None or not challenger.skill and challenger.direction_accuracy is None:
        return None  # no windows, or already the random walk
    said = f"as trained: {challenger.skill:+.2%}"
    if challenger.skill < 0:
        return f" with shrinkage 0, the random walk ({said})" if champion_version is None else None
    if challenger.p_value >= evidence_p:
        return f" with shrinkage 0, the random walk ({said}, no evidence of skill: one-sided DM p = {challenger.p_value:.2f} >= {evidence_p})"
    return None


def decide(challenger: Scores | None, champion: Scores | None, champion_version: int | None, tolerance: float,
           random_walk: str = "") -> tuple[bool, str]:
    """(publish?, the reason in words); `random_walk`: random_walk_reason's words when the
    challenger is judged with shrinkage 0."""
    if challenger is None:
        return False, "no recent windows (validation/test split) to evaluate the challenger on: materialize more history"
    said = f"challenger skill {challenger.skill:+.2%}"
    if challenger.skill < -1e-9:
        kept = f"kept version {champion_version}" if champion_version else "nothing published"
        return False, f"{kept}: {said} is worse than the random walk on {challenger.windows} recent windows"
    if champion is None:
        return True, f"published{random_walk}: {said} (no comparable served version)"
    if challenger.skill < champion.skill - tolerance:
        return False, f"kept version {champion_version}: {said} vs champion {champion.skill:+.2%} on the same {challenger.windows} windows"
    return True, f"published{random_walk}: {said} vs champion v{champion_version} {champion.skill:+.2%} on the same {challenger.windows} windows"

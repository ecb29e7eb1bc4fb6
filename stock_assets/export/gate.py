"""The gate: which network is served (the news network, the separately trained price-only network,
or the random walk with a calibrated band), and whether it replaces the served version.

Everything is judged on the gate windows: the latest windows of the panel's test split, which lie
wholly after every day either network was trained, early-stopped or calibrated on (refused
otherwise: `unseen_windows`), scored as exported (ONNX through onnxruntime), so the gate judges
exactly what Triton would serve. One rule, with the one-sided Diebold-Mariano test of
stock_assets/model/metrics.py (EWC long-run variance, Student-t) at level `evidence_p`:

1. the news network is served when it beats the random walk *and* the price-only network
   significantly (news has to earn its place against the network that has no news);
2. else the price-only network, when it beats the random walk significantly;
3. else the random walk, with the interval refitted for a zero median.
The challenger so chosen replaces the served version unless it is significantly worse than it on
the same windows; a challenger whose forecasts equal the served version's is not published (no new
version, no redeploy). These are selection figures: the windows that decide are also the windows
they are measured on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stock_assets.model.metrics import coverage, diebold_mariano, error_metrics
from stock_assets.model.network import HORIZON
from stock_assets.model.panel import SPLITS, Panel, first_input_days, window_tensors

BATCH = 256
NEWS, PRICE, RANDOM_WALK = "news network", "price-only network", "random walk"
SAME_FORECAST = 1e-6  # max |difference| of log-returns under which two versions serve the same forecast


@dataclass
class Forecasts:
    """One model on the gate windows, in log-returns relative to the last close."""

    point: np.ndarray  # [W, 5]
    band: np.ndarray  # [W, 5, 3] the 10/50/90 % quantiles
    actual: np.ndarray  # [W, 5]
    days: np.ndarray  # [W] window end sessions

    def loss(self) -> np.ndarray:
        return np.abs(self.point - self.actual).mean(axis=1)

    def as_random_walk(self, band: np.ndarray) -> "Forecasts":
        return Forecasts(np.zeros_like(self.point), band, self.actual, self.days)


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


def gate_windows(panel: Panel, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(symbol, end) of the latest `limit` windows of the test split; none when the panel has no
    test split (the gate then publishes nothing: there is no fallback to fitted windows)."""
    chosen = panel.windows["split"] == SPLITS["test"]
    symbol, end = panel.windows["symbol"][chosen], panel.windows["end"][chosen]
    order = np.argsort(end, kind="stable")[len(end) - min(limit, len(end)):]
    return symbol[order], end[order]


def unseen_windows(panel: Panel, ends: np.ndarray, fitted: dict[str, str | None]) -> tuple[bool, str]:
    """(clean?, in words): no gate window may have an input or target day on or before the last
    day whose return a candidate trained on or was validated on (`fitted`: model -> that day)."""
    if not len(ends):
        return False, "no test-split windows to judge on: materialize more history (the gate never scores fitted windows)"
    first = first_input_days(panel, ends)
    seen = {name: day for name, day in fitted.items() if day}
    latest = max(seen.values(), default=None)
    if latest is None:
        return True, f"{len(ends)} windows from {first.min()}; no candidate records fitted days"
    overlap = first <= np.datetime64(latest)
    if overlap.any():
        who = ", ".join(f"{name} up to {day}" for name, day in seen.items())
        return False, (f"refused: {int(overlap.sum())} of {len(ends)} gate windows start on or before {latest}, days the candidates were "
                       f"fitted on ({who}); retrain from scratch on the current splits")
    return True, f"{len(ends)} windows, all days from {first.min()} on, after every fitted day (last: {latest})"


def run_model(session, panel: Panel, symbols: np.ndarray, ends: np.ndarray) -> Forecasts | None:
    """An exported model over the windows in batches; None when there are none."""
    if not len(ends):
        return None
    points, bands, actuals = [], [], []
    for start in range(0, len(ends), BATCH):
        part = list(zip(symbols[start : start + BATCH], ends[start : start + BATCH]))
        pairs = [window_tensors(panel, int(s), int(t)) for s, t in part]
        price = np.stack([p for p, _ in pairs])
        forecast, quantiles = session.run(["forecast", "forecast_quantiles"], {"price_input": price, "news_input": np.stack([n for _, n in pairs])})
        last = price[:, -1, 0].astype(np.float64)
        targets = np.stack([panel.close[t + 1 : t + 1 + HORIZON, s] for s, t in part])
        points.append(np.log(forecast / last[:, None]))
        bands.append(np.log(quantiles / last[:, None, None]))
        actuals.append(np.log(targets / last[:, None]))
    return Forecasts(np.concatenate(points), np.concatenate(bands), np.concatenate(actuals), panel.sessions[ends])


def p_better(a: Forecasts, b: Forecasts) -> float:
    """One-sided DM p-value of "a has the lower absolute error than b" (1 when they are equal)."""
    if same_forecasts(a, b, bands=False):
        return 1.0
    p = diebold_mariano(a.loss(), b.loss(), a.days, a.actual.shape[1])["p_a_better"]
    return float(p) if np.isfinite(p) else 1.0


def same_forecasts(a: Forecasts, b: Forecasts, bands: bool = True) -> bool:
    if a.point.shape != b.point.shape or not np.allclose(a.point, b.point, rtol=0, atol=SAME_FORECAST):
        return False
    return not bands or bool(np.allclose(a.band, b.band, rtol=0, atol=SAME_FORECAST))


def scores_of(f: Forecasts) -> Scores:
    walk_mae = float(np.abs(f.actual).mean())
    m = error_metrics(f.point, f.actual, walk_mae)
    rw = f.as_random_walk(f.band)
    return Scores(
        skill=m["skill"], mae=m["mae"], mae_random_walk=walk_mae, coverage_80=coverage(f.band, f.actual),
        direction_accuracy=m.get("direction_accuracy"), windows=int(len(f.actual)), first_day=str(f.days.min()), last_day=str(f.days.max()),
        p_value=p_better(f, rw),
    )


def choose(news: Forecasts, price: Forecasts | None, evidence_p: float) -> tuple[str, str]:
    """(NEWS, PRICE or RANDOM_WALK, the reason in words): the one rule of the module docstring."""
    rw = news.as_random_walk(news.band)
    p_news = p_better(news, rw)
    if price is None:
        if p_news < evidence_p:
            return NEWS, f"news network beats the random walk (p = {p_news:.3f}); no price-only network to compare with"
        return RANDOM_WALK, f"no evidence of skill: news network vs random walk p = {p_news:.2f} >= {evidence_p}"
    p_price, p_news_price = p_better(price, rw), p_better(news, price)
    said = f"p vs random walk: news {p_news:.3f}, price-only {p_price:.3f}; news vs price-only {p_news_price:.3f}"
    if p_news < evidence_p and p_news_price < evidence_p:
        return NEWS, f"news network beats the random walk and the price-only network ({said})"
    if p_price < evidence_p:
        return PRICE, f"price-only network beats the random walk, news did not earn its place ({said})"
    return RANDOM_WALK, f"no network beats the random walk at p < {evidence_p} ({said})"


def judge(challenger: Forecasts, champion: Forecasts | None, champion_version: int | None, evidence_p: float) -> tuple[bool, bool, str]:
    """(publish?, unchanged?, the reason): the challenger replaces the champion unless it is
    significantly worse on the same windows; identical forecasts are not published again."""
    if champion is None:
        return True, False, "no comparable served version"
    if same_forecasts(challenger, champion):
        return False, True, f"unchanged: the challenger serves the same forecasts as version {champion_version}, nothing published"
    p_worse = p_better(champion, challenger)
    said = f"version {champion_version} better than the challenger: p = {p_worse:.3f}"
    if p_worse < evidence_p:
        return False, False, f"kept version {champion_version}: the challenger is significantly worse on the same windows ({said})"
    return True, False, f"replaces version {champion_version} ({said} >= {evidence_p})"


def gate_table(rows: dict[str, Forecasts | None], served: str, price: Forecasts | None = None) -> str:
    """The selection figures of every candidate on the gate windows, and which one was chosen."""
    lines = ["Selection figures: measured on the gate windows that also decided (biased upwards for the winner).", "",
             "| model | skill vs random walk | one-sided DM p vs random walk | p vs price-only | MAE | 80 % coverage | windows | days | chosen |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, f in rows.items():
        if f is None:
            lines.append(f"| {label} | – | – | – | – | – | – | – | |")
            continue
        s = scores_of(f)
        versus = f"{p_better(f, price):.3f}" if price is not None and f is not price and label != RANDOM_WALK else "–"
        lines.append(f"| {label} | {s.skill:+.3%} | {s.p_value:.3f} | {versus} | {s.mae:.5f} | {s.coverage_80:.3f} | {s.windows} | "
                     f"{s.first_day}..{s.last_day} | {'**served**' if label == served else ''} |")
    return "\n".join(lines)

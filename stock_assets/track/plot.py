"""The track record as a picture for the Dagster UI: per outcome session, the served versions'
cumulative skill against the random walk and their 20-session 80 % coverage (against the band's)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stock_assets.metadata import figure_png


def record_plot(scores: pd.DataFrame) -> str | None:
    """PNG (base64), or None without scores."""
    if scores is None or scores.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display in run workers
    import matplotlib.pyplot as plt

    daily = scores.groupby("date").agg(error=("abs_error", "sum"), walk=("random_walk_abs_error", "sum"),
                                       hit=("hit", "mean"), band=("band_hit", "mean"), version=("model_version", "max"))
    days = pd.to_datetime(daily.index)
    skill = 1.0 - daily["error"].cumsum() / daily["walk"].cumsum().replace(0, np.nan)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    top.plot(days, 100 * skill, color="#1f77b4")
    top.axhline(0, color="black", linewidth=0.6)
    top.set_ylabel("cumulative skill %", fontsize=8)
    top.set_title("Served forecasts: skill vs the random walk, 80 % coverage (20 sessions)", fontsize=9)
    for change in days[daily["version"].diff().fillna(0).ne(0).to_numpy()]:
        top.axvline(change, color="grey", linestyle=":", linewidth=0.8)
    bottom.plot(days, daily["hit"].rolling(20, min_periods=5).mean(), label="served interval", color="#1f77b4")
    bottom.plot(days, daily["band"].rolling(20, min_periods=5).mean(), label="trailing band", color="grey", linestyle="--")
    bottom.axhline(0.8, color="black", linewidth=0.6)
    bottom.set_ylabel("coverage", fontsize=8)
    bottom.legend(fontsize=7)
    for axis in (top, bottom):
        axis.tick_params(labelsize=7)
    return figure_png(figure)

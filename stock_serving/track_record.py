"""What the API tells users about the served version: its live track record (from
forecast_scores and the version registry) and the interval scale served_forecasts applied."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from stock_assets.track import registry
from stock_assets.track.calibration import SCALE_LOOKBACK_DAYS, served_scales
from stock_assets.track.record import Outcomes, read_record, sentence, summary


def live_record(home: Path, version: str | None) -> dict:
    """{version, served_from, record (since publication), sentence}: what the chat and UI state."""
    if version is None:
        return {"version": None, "served_from": None, "record": {}, "sentence": sentence(None, None, None)}
    entry = next((e for e in registry.load(home) if str(e.version) == str(version)), None)
    scores = read_record(Path(home) / "lake" / "forecast_scores")
    mine = scores[scores["model_version"] == int(version)] if scores is not None else None
    record = summary(mine) if mine is not None and not mine.empty else {}
    served_from = entry.served_from if entry else None
    return {"version": str(version), "served_from": served_from, "record": record, "sentence": sentence(version, served_from, record)}


def record_signature(home: Path) -> tuple:
    """Changes whenever forecast_scores gains or rewrites a day: what a cached record is keyed by."""
    folder = Path(home) / "lake" / "forecast_scores"
    if not folder.exists():
        return ()
    stats = [p.stat() for p in folder.glob("*.parquet")]
    return (len(stats), max((s.st_mtime_ns for s in stats), default=0))


def interval_scales_on(home: Path, day: str) -> np.ndarray:
    """The scale per horizon for forecasts from `day`'s close: what served_forecasts stored for
    that day, or (before it ran) the same rule on the outcomes known by that close."""
    stored = Path(home) / "lake" / "served_forecasts" / f"{day}.parquet"
    if stored.exists():
        rows = pd.read_parquet(stored, columns=["horizon", "interval_scale"])
        if not rows.empty:
            return rows.groupby("horizon")["interval_scale"].first().sort_index().to_numpy()
    since = (date.fromisoformat(day) - timedelta(days=SCALE_LOOKBACK_DAYS)).isoformat()
    lake = Path(home) / "lake"
    outcomes = Outcomes(read_record(lake / "served_forecasts", since=since, until=day), None,
                        read_record(lake / "forecast_scores", since=since, until=day))
    return served_scales(outcomes.scores_until(day) if outcomes.stored else None, day)

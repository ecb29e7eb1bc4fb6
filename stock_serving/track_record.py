"""What the API tells users about the served version: its live track record (from
forecast_scores and the version registry) and the interval scale served_forecasts applied."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow.parquet as pq

from stock_assets.model.storage import storage_path
from stock_assets.track import registry
from stock_assets.track.calibration import SCALE_LOOKBACK_DAYS, served_scales
from stock_assets.track.record import Outcomes, read_record, sentence, summary


def live_record(home, version: str | None) -> dict:
    """{version, served_from, record (since publication), sentence}: what the chat and UI state."""
    if version is None:
        return {"version": None, "served_from": None, "record": {}, "sentence": sentence(None, None, None)}
    entry = next((e for e in registry.load(home) if str(e.version) == str(version)), None)
    scores = read_record(storage_path(home) / "lake" / "forecast_scores")
    mine = scores[scores["model_version"] == int(version)] if scores is not None else None
    record = summary(mine) if mine is not None and not mine.empty else {}
    served_from = entry.served_from if entry else None
    return {"version": str(version), "served_from": served_from, "record": record, "sentence": sentence(version, served_from, record)}


def record_signature(home) -> tuple:
    """Changes whenever forecast_scores gains or rewrites a day: what a cached record is keyed by
    (file count and newest modification time, on a path or an object store)."""
    folder = storage_path(home) / "lake" / "forecast_scores"
    if not folder.exists():
        return ()
    stats = [p.stat() for p in folder.glob("*.parquet")]
    return (len(stats), max((float(s.st_mtime) for s in stats), default=0.0), sum(s.st_size for s in stats))


def interval_scales_on(home, day: str) -> np.ndarray:
    """The scale per horizon for forecasts from `day`'s close: what served_forecasts stored for
    that day, or (before it ran) the same rule on the outcomes known by that close."""
    lake = storage_path(home) / "lake"
    stored = lake / "served_forecasts" / f"{day}.parquet"
    if stored.exists():
        with stored.open("rb") as handle:
            rows = pq.read_table(handle, columns=["horizon", "interval_scale"]).to_pandas()
        if not rows.empty:
            return rows.groupby("horizon")["interval_scale"].first().sort_index().to_numpy()
    since = (date.fromisoformat(day) - timedelta(days=SCALE_LOOKBACK_DAYS)).isoformat()
    outcomes = Outcomes(read_record(lake / "served_forecasts", since=since, until=day), None,
                        read_record(lake / "forecast_scores", since=since, until=day))
    return served_scales(outcomes.scores_until(day) if outcomes.stored else None, day)

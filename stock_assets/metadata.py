"""Materialization metadata shared by the lake assets: rows, symbols, date range, a preview."""

from __future__ import annotations

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


def frame_metadata(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    dates = pd.to_datetime(frame["date"]) if len(frame) else None
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "symbols": dg.MetadataValue.text(", ".join(sorted(frame["symbol"].unique())) or "(none)"),
        "first_date": dg.MetadataValue.text(dates.min().strftime("%Y-%m-%d") if dates is not None else "-"),
        "last_date": dg.MetadataValue.text(dates.max().strftime("%Y-%m-%d") if dates is not None else "-"),
        "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False)),
    }

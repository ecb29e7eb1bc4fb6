"""Materialization metadata shared by the lake assets: rows, symbols, date range, a preview."""

from __future__ import annotations

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


def figure_png(figure) -> str:
    """A matplotlib figure as base64 PNG for a Markdown image in the UI; closes the figure."""
    import base64
    import io

    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def frame_metadata(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    dates = pd.to_datetime(frame["date"]) if len(frame) else None
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "symbols": dg.MetadataValue.text(", ".join(sorted(frame["symbol"].unique())) or "(none)"),
        "first_date": dg.MetadataValue.text(dates.min().strftime("%Y-%m-%d") if dates is not None else "-"),
        "last_date": dg.MetadataValue.text(dates.max().strftime("%Y-%m-%d") if dates is not None else "-"),
        "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False)),
    }

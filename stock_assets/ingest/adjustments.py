"""Split and dividend restatements: fetched history that disagrees with the stored one.

Yahoo restates past prices after a split (close and adjusted close) or a dividend
(adjusted close). An incremental fetch re-downloads a few stored sessions; if they no longer
match, appending the new days would create a jump. Policy `fail` stops and says to backfill;
`rescale` brings the new rows onto the stored basis (the way Qlib's collector keeps a
series continuous), so the lake stays self-consistent until the next full backfill.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stock_assets.ingest.errors import AdjustmentChangedError

POLICIES = ("fail", "rescale")
RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Restatement:
    symbol: str
    first_date: str
    close_factor: float  # stored / fetched; multiply fetched raw prices by it
    adj_close_factor: float

    def describe(self) -> str:
        return (
            f"{self.symbol} from {self.first_date}: stored/fetched close x{self.close_factor:.6g}, "
            f"adj_close x{self.adj_close_factor:.6g}"
        )


def find_restatements(stored: pd.DataFrame | None, fetched: pd.DataFrame) -> list[Restatement]:
    """Symbols whose overlapping sessions differ by more than the tolerance."""
    if stored is None or stored.empty or fetched.empty:
        return []
    cols = ["date", "symbol", "close", "adj_close"]
    both = stored[cols].merge(fetched[cols], on=["date", "symbol"], suffixes=("_stored", "_fetched"))
    found = []
    for symbol, rows in both.groupby("symbol", sort=True):
        close = rows["close_stored"] / rows["close_fetched"]
        adj = rows["adj_close_stored"] / rows["adj_close_fetched"]
        off = ((close - 1).abs() > RELATIVE_TOLERANCE) | ((adj - 1).abs() > RELATIVE_TOLERANCE)
        if off.any():
            found.append(
                Restatement(
                    symbol=str(symbol),
                    first_date=rows.loc[off, "date"].min().strftime("%Y-%m-%d"),
                    close_factor=float(close.median()),
                    adj_close_factor=float(adj.median()),
                )
            )
    return found


def reconcile(
    window: pd.DataFrame,
    stored_overlap: pd.DataFrame | None,
    fetched_overlap: pd.DataFrame,
    policy: str,
    backfill_from: str,
) -> tuple[pd.DataFrame, list[Restatement]]:
    """Apply `policy` to the window's rows; returns them and the restatements found."""
    if policy not in POLICIES:
        raise ValueError(f"adjustment policy {policy!r} is not one of {POLICIES}")
    restated = find_restatements(stored_overlap, fetched_overlap)
    if not restated:
        return window, []
    if policy == "fail":
        raise AdjustmentChangedError(
            "adjusted prices changed since they were stored (a split or dividend restated "
            "history): "
            + "; ".join(r.describe() for r in restated)
            + f". Backfill raw_prices from {backfill_from} (all partitions) so the whole series "
            "shares one basis, or set adjustment_policy='rescale' to keep the stored basis."
        )
    window = window.copy()
    for r in restated:
        rows = window["symbol"] == r.symbol
        window.loc[rows, ["open", "high", "low", "close"]] *= r.close_factor
        window.loc[rows, "adj_close"] *= r.adj_close_factor
        window.loc[rows, "volume"] = (window.loc[rows, "volume"] / r.close_factor).round().astype("int64")
    return window, restated

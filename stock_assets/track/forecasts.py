"""A day's served forecasts: every symbol's input window ending at that session, the served
version's answer, the recalibrated interval and the trailing-volatility band (the baseline the
intervals are scored against). No Dagster: the API and the benchmarks build the same rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from stock_assets import market_calendar
from stock_assets.model.metrics import volatility_band, window_sigma
from stock_assets.model.network import HORIZON, WINDOW
from stock_assets.model.panel import Panel, window_tensors
from stock_assets.track.calibration import scaled_quantiles
from stock_assets.track.record import FORECAST_COLUMNS, typed


def session_index(panel: Panel, day: str) -> int | None:
    found = np.flatnonzero(panel.sessions == np.datetime64(day, "D"))
    return int(found[0]) if len(found) else None


def day_inputs(panel: Panel, day: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(symbols, price [B, 30, 1], news [B, 30, D]) of every symbol with 30 closes ending at `day`."""
    end = session_index(panel, day)
    if end is None or end < WINDOW - 1:
        return [], np.zeros((0, WINDOW, 1), np.float32), np.zeros((0, WINDOW, panel.news_dim), np.float32)
    symbols, prices, news = [], [], []
    for column, symbol in enumerate(panel.symbols):
        if np.isfinite(panel.close[end - WINDOW + 1 : end + 1, column]).all():
            price, vectors = window_tensors(panel, column, end)
            symbols.append(symbol)
            prices.append(price)
            news.append(vectors)
    if not symbols:
        return [], np.zeros((0, WINDOW, 1), np.float32), np.zeros((0, WINDOW, panel.news_dim), np.float32)
    return symbols, np.stack(prices), np.stack(news)


def target_days(day: str) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in market_calendar.sessions_after(date.fromisoformat(day), HORIZON)]


def served_rows(day: str, version: int, network: str, served_by: str, symbols: list[str], price: np.ndarray,
                closes: np.ndarray, quantiles: np.ndarray, scales: np.ndarray) -> pd.DataFrame:
    """Long rows (symbol x horizon) of what was served on `day`: Triton's closes and quantiles,
    the interval after the record's scale, and the trailing-volatility band."""
    last = price[:, -1, 0].astype(np.float64)
    served = scaled_quantiles(last, quantiles, scales)
    band = last[:, None, None] * np.exp(volatility_band(window_sigma(price[:, :, 0].astype(np.float64)), HORIZON))
    n = len(symbols)
    targets = target_days(day)
    frame = pd.DataFrame({
        "date": day,
        "symbol": np.repeat(symbols, HORIZON),
        "model_version": version,
        "network": network,
        "served_by": served_by,
        "horizon": np.tile(np.arange(1, HORIZON + 1), n),
        "target_date": np.tile(targets, n),
        "last_close": np.repeat(last, HORIZON),
        "forecast": closes.reshape(-1),
        "low": served[..., 0].reshape(-1),
        "median": served[..., 1].reshape(-1),
        "high": served[..., 2].reshape(-1),
        "raw_low": quantiles[..., 0].reshape(-1),
        "raw_high": quantiles[..., 2].reshape(-1),
        "interval_scale": np.tile(scales, n),
        "band_low": band[..., 0].reshape(-1),
        "band_high": band[..., 2].reshape(-1),
    })
    return typed(frame, FORECAST_COLUMNS)

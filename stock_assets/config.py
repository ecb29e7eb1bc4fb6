"""Settings of what the platform does (dates, symbols, sources, embedder, endpoints), read from the
environment (names fixed by DESIGN.md), with their defaults. Where state lives (STOCK_HOME, the
shared-state database, the rate bucket): stock_assets/settings.py."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

DEFAULT_SYMBOLS = ("SPY", "AAPL", "MSFT", "GOOGL")
PRICE_SOURCES = ("yfinance", "replay", "synthetic")
NEWS_SOURCES = ("finnhub", "replay", "synthetic")


def parse_symbols(text: str | None) -> tuple[str, ...]:
    """'spy, aapl' -> ('SPY', 'AAPL'); empty entries dropped, order kept, duplicates removed."""
    if not text or not text.strip():
        return DEFAULT_SYMBOLS
    seen: dict[str, None] = {}
    for raw in text.split(","):
        symbol = raw.strip().upper()
        if symbol:
            seen[symbol] = None
    return tuple(seen)


def _parse_date(name: str, value: str | None, default: str | None) -> str | None:
    value = (value or "").strip() or default
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a date in YYYY-MM-DD form") from None


@dataclass(frozen=True)
class Settings:
    start_date: str
    end_date: str | None
    symbols: tuple[str, ...]
    price_source: str
    news_source: str
    replay_dir: str | None
    embedder: str
    chroma_host: str | None
    chroma_port: int | None
    triton_url: str
    api_url: str
    train_launcher: str

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            start_date=_parse_date("STOCK_START_DATE", env.get("STOCK_START_DATE"), "2016-01-01"),
            end_date=_parse_date("STOCK_END_DATE", env.get("STOCK_END_DATE"), None),
            symbols=parse_symbols(env.get("STOCK_SYMBOLS")),
            price_source=env.get("STOCK_PRICE_SOURCE", "yfinance").strip() or "yfinance",
            news_source=env.get("STOCK_NEWS_SOURCE", "finnhub").strip() or "finnhub",
            replay_dir=env.get("STOCK_REPLAY_DIR") or None,
            embedder=env.get("STOCK_EMBEDDER", "").strip() or "ProsusAI/finbert",
            chroma_host=env.get("CHROMA_HOST") or None,
            chroma_port=int(env["CHROMA_PORT"]) if env.get("CHROMA_PORT") else None,
            triton_url=env.get("TRITON_URL", "").strip() or "http://127.0.0.1:8000",
            api_url=env.get("API_URL", "").strip() or "http://127.0.0.1:8080",
            train_launcher=env.get("STOCK_TRAIN_LAUNCHER", "").strip() or "local",
        )

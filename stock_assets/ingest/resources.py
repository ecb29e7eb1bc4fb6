"""Resources that choose where prices and news come from (STOCK_PRICE_SOURCE, STOCK_NEWS_SOURCE)."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from stock_assets.config import NEWS_SOURCES, PRICE_SOURCES
from stock_assets.ingest.adjustments import POLICIES
from stock_assets.ingest.errors import SourceError
from stock_assets.ingest.limits import SharedRateLimiter, budget_name
from stock_assets.ingest.news import (
    MARKET,
    FinnhubNewsSource,
    NewsSource,
    ReplayNewsSource,
    SyntheticNewsSource,
)
from stock_assets.ingest.prices import (
    PriceSource,
    ReplayPriceSource,
    SyntheticPriceSource,
    YFinancePriceSource,
)
from stock_assets.settings import local_home


def _require_replay_dir(replay_dir: str | None, kind: str) -> str:
    if not replay_dir:
        raise SourceError(f"{kind} source 'replay' needs STOCK_REPLAY_DIR (a folder with prices/ and news/)")
    return replay_dir


class PriceSourceResource(dg.ConfigurableResource):
    """Daily OHLCV for the universe: yfinance (live), replay (recorded CSVs) or synthetic."""

    source: str = Field(default="yfinance", description=f"one of {PRICE_SOURCES}")
    symbols: list[str] = Field(description="the universe, e.g. ['SPY', 'AAPL']")
    replay_dir: str | None = Field(default=None, description="folder with prices/<SYMBOL>.csv")
    seed: int = Field(default=7, description="seed of the synthetic source")
    adjustment_policy: str = Field(
        default="fail", description=f"on restated history (split/dividend), one of {POLICIES}"
    )
    overlap_days: int = Field(
        default=10, description="stored calendar days re-fetched to detect restated history"
    )
    off_calendar_rows: str = Field(
        default="fail", description="rows dated on a day that is not an NYSE session: `fail` (blocking check) or `drop` (with a warning)"
    )
    max_attempts: int = Field(default=4, description="yfinance attempts for tickers that come back empty")
    backoff_seconds: float = Field(default=5.0, description="first retry delay; doubles each attempt")

    def build(self) -> PriceSource:
        if self.source == "yfinance":
            return YFinancePriceSource(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds)
        if self.source == "replay":
            return ReplayPriceSource(_require_replay_dir(self.replay_dir, "price"))
        if self.source == "synthetic":
            return SyntheticPriceSource(self.seed)
        raise SourceError(f"unknown price source {self.source!r}; choose one of {PRICE_SOURCES}")


class NewsSourceResource(dg.ConfigurableResource):
    """Financial news items: finnhub (live), replay (recorded JSONL) or synthetic."""

    source: str = Field(default="finnhub", description=f"one of {NEWS_SOURCES}")
    symbols: list[str] = Field(description="the universe; general news is stored as MARKET")
    market_news: bool = Field(default=True, description="also fetch general news as symbol MARKET")
    replay_dir: str | None = Field(default=None, description="folder with news/<SYMBOL>.jsonl")
    seed: int = Field(default=7, description="seed of the synthetic source")
    calls_per_minute: int = Field(default=55, description="Finnhub calls per minute (free tier: 60)")
    max_attempts: int = Field(default=5, description="Finnhub attempts on 429, 5xx or network errors")
    backoff_seconds: float = Field(default=2.0, description="first retry delay; doubles each attempt")

    @property
    def universe(self) -> list[str]:
        return [*self.symbols, MARKET] if self.market_news and MARKET not in self.symbols else list(self.symbols)

    def build(self) -> NewsSource:
        if self.source == "finnhub":
            # Read at run time from the environment (a k8s Secret on the cluster), never from config.
            key = os.environ.get("FINNHUB_API_KEY")
            # one budget per key for every run on this machine (STOCK_HOME/limits)
            shared = SharedRateLimiter(self.calls_per_minute, 60.0, local_home() / "limits" / "finnhub.sqlite",
                                       budget_name(key)) if key else None
            return FinnhubNewsSource(
                key,
                calls_per_minute=self.calls_per_minute,
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
                limiter=shared,
            )
        if self.source == "replay":
            return ReplayNewsSource(_require_replay_dir(self.replay_dir, "news"))
        if self.source == "synthetic":
            return SyntheticNewsSource(self.seed)
        raise SourceError(f"unknown news source {self.source!r}; choose one of {NEWS_SOURCES}")

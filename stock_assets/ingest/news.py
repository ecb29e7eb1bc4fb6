"""News sources (Finnhub, replay, synthetic) and the Finnhub-item parsing they share.

Every source yields Finnhub company-news items (category, datetime in UNIX seconds UTC,
headline, id, image, related, source, summary, url) tagged with the symbol they were fetched
for; `normalize_finnhub_items` turns them into the raw_news contract.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from stock_assets.ingest.errors import SourceError
from stock_assets.market_calendar import NEW_YORK

log = logging.getLogger(__name__)

MARKET = "MARKET"
NEWS_COLUMNS = ["id", "published_at", "date", "symbol", "headline", "summary", "source", "url"]
TEXT_FIELDS = ("summary", "source", "url")


class NewsSource(Protocol):
    def fetch(self, symbols: Sequence[str], start: date, end: date) -> list[tuple[str, dict]]: ...


def news_id(symbol: str, item: dict[str, Any]) -> str:
    """`<unix seconds>_<hash>`: stable for the same item under the same symbol."""
    key = f"{symbol}|{item.get('id', '')}|{item.get('url', '')}|{item['headline']}"
    return f"{int(item['datetime'])}_{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def validate_item(item: Any, origin: str) -> None:
    if not isinstance(item, dict):
        raise SourceError(f"{origin}: expected a JSON object, got {type(item).__name__}")
    for field in ("datetime", "headline"):
        if field not in item:
            raise SourceError(f"{origin}: missing field {field!r}")
    stamp = item["datetime"]
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp <= 0:
        raise SourceError(f"{origin}: 'datetime' must be UNIX seconds, got {stamp!r}")
    if not isinstance(item["headline"], str):
        raise SourceError(f"{origin}: 'headline' must be text, got {item['headline']!r}")


def empty_news() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in NEWS_COLUMNS})
    frame["published_at"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    return frame[NEWS_COLUMNS]


def normalize_finnhub_items(tagged: Iterable[tuple[str, dict]]) -> pd.DataFrame:
    """(symbol, Finnhub item) pairs -> raw_news rows, deduplicated by id, ordered by time.
    Items without headline text are dropped (nothing to embed)."""
    rows = []
    for symbol, item in tagged:
        if not item["headline"].strip():
            continue
        row = {
            "id": news_id(symbol, item),
            "published_at": int(item["datetime"]),
            "symbol": symbol,
            "headline": item["headline"].strip(),
        }
        for field in TEXT_FIELDS:
            row[field] = str(item.get(field) or "")
        rows.append(row)
    if not rows:
        return empty_news()
    frame = pd.DataFrame(rows)
    published = pd.to_datetime(frame["published_at"], unit="s", utc=True).astype("datetime64[ns, UTC]")
    frame["published_at"] = published
    frame["date"] = published.dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.normalize()
    frame = frame.drop_duplicates("id").sort_values(["published_at", "id"], kind="stable")
    return frame[NEWS_COLUMNS].reset_index(drop=True)


def within(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    mask = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] < pd.Timestamp(end))
    return frame[mask].reset_index(drop=True)


class RateLimiter:
    """At most `calls` calls in any sliding `period` seconds (Finnhub free tier: 60/minute)."""

    def __init__(self, calls: int, period: float = 60.0, clock=time.monotonic, sleep=time.sleep):
        self.calls, self.period = calls, period
        self._clock, self._sleep = clock, sleep
        self._stamps: deque[float] = deque()

    def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._stamps and now - self._stamps[0] >= self.period:
                self._stamps.popleft()
            if len(self._stamps) < self.calls:
                self._stamps.append(now)
                return
            self._sleep(self.period - (now - self._stamps[0]))


class FinnhubNewsSource:
    """company_news per symbol in `chunk_days` windows (Finnhub caps items per answer);
    general_news for MARKET (Finnhub serves only recent general news, so older windows get
    none). Calls stay under the rate limit; 429 and 5xx answers are retried with backoff.
    The API key is never logged: it is scrubbed from every error message."""

    def __init__(
        self,
        api_key: str | None,
        client: Any | None = None,
        calls_per_minute: int = 55,
        chunk_days: int = 7,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        limiter: Any | None = None,
    ):
        """`limiter`: anything with acquire(); the resource passes the budget shared across
        processes (limits.SharedRateLimiter); without one, an in-process sliding window."""
        if not api_key and client is None:
            raise SourceError(
                "FINNHUB_API_KEY is not set: export it (a free key from finnhub.io) or choose "
                "STOCK_NEWS_SOURCE=replay or synthetic"
            )
        if client is None:
            import finnhub

            client = finnhub.Client(api_key=api_key)
        self._client, self._key = client, api_key or ""
        self.chunk_days, self.max_attempts, self.backoff_seconds = chunk_days, max_attempts, backoff_seconds
        self._sleep = sleep
        self.limiter = limiter or RateLimiter(calls_per_minute, 60.0, clock=clock, sleep=sleep)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _call(self, what: str, fn: Callable[..., Any], **kwargs) -> list[dict]:
        """One API call under the rate limit; 429, 5xx and network errors are retried with
        exponential backoff (tenacity); other errors, or the last attempt, name the call."""
        import finnhub
        import requests
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, finnhub.FinnhubAPIException):
                return exc.status_code == 429 or exc.status_code >= 500
            return isinstance(exc, requests.RequestException)

        def problem(exc: BaseException) -> str:
            if isinstance(exc, finnhub.FinnhubAPIException):
                return f"HTTP {exc.status_code}: {self._scrub(str(exc.message))}"
            return self._scrub(f"{type(exc).__name__}: {exc}")

        def warn(state) -> None:
            log.warning("Finnhub %s: %s; retrying in %.0fs", what, problem(state.outcome.exception()), state.next_action.sleep)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, exp_base=2, min=0, max=3600),
            retry=retry_if_exception(retryable), sleep=self._sleep, before_sleep=warn, reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.limiter.acquire()
                    answer = fn(**kwargs)
        except RetryError as exhausted:
            last = exhausted.last_attempt
            raise SourceError(f"Finnhub {what} failed after {last.attempt_number} attempt(s): {problem(last.exception())}") from None
        except (finnhub.FinnhubAPIException, requests.RequestException) as exc:  # not retryable
            raise SourceError(f"Finnhub {what} failed after {retrying.statistics.get('attempt_number', 1)} attempt(s): "
                              f"{problem(exc)}") from None
        if not isinstance(answer, list):
            raise SourceError(f"Finnhub {what}: expected a list of items, got {type(answer).__name__}")
        return answer

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> list[tuple[str, dict]]:
        tagged: list[tuple[str, dict]] = []
        for symbol in symbols:
            if symbol == MARKET:
                items = self._call("general_news", self._client.general_news, category="general", min_id=0)
                for n, item in enumerate(items):
                    validate_item(item, f"general_news item {n}")
                tagged += [(MARKET, item) for item in items]
                continue
            # Finnhub dates are UTC days: ask one day past the end so the late New York evening
            # of the last day is covered; rows outside the window are filtered afterwards.
            chunk_start = start
            while chunk_start <= end:
                chunk_end = min(chunk_start + timedelta(days=self.chunk_days - 1), end)
                what = f"company_news {symbol} {chunk_start}..{chunk_end}"
                items = self._call(
                    what, self._client.company_news, symbol=symbol,
                    _from=chunk_start.isoformat(), to=chunk_end.isoformat(),
                )
                for n, item in enumerate(items):
                    validate_item(item, f"{what} item {n}")
                tagged += [(symbol, item) for item in items]
                chunk_start = chunk_end + timedelta(days=1)
        return tagged


class ReplayNewsSource:
    """Recorded Finnhub items: <replay_dir>/news/<SYMBOL>.jsonl (MARKET.jsonl for general news).
    A symbol without a file has no news, as the live API answers for a quiet company."""

    def __init__(self, replay_dir: str | Path):
        self.folder = Path(replay_dir) / "news"
        if not self.folder.is_dir():
            raise SourceError(
                f"replay news folder {self.folder} does not exist; set STOCK_REPLAY_DIR to a "
                f"folder holding news/<SYMBOL>.jsonl"
            )
        self._cache: dict[str, list[dict]] = {}

    def _items(self, symbol: str) -> list[dict]:
        if symbol not in self._cache:
            path = self.folder / f"{symbol}.jsonl"
            items = []
            if path.exists():
                with path.open(encoding="utf-8") as handle:
                    for lineno, line in enumerate(handle, start=1):
                        if not line.strip():
                            continue
                        try:
                            item = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise SourceError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                        validate_item(item, f"{path}:{lineno}")
                        items.append(item)
            else:
                log.info("replay has no news file for %s", symbol)
            self._cache[symbol] = items
        return self._cache[symbol]

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> list[tuple[str, dict]]:
        # One day of slack each side in UTC covers every New York day in [start, end).
        lo = datetime.combine(start - timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()
        hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()
        return [(s, i) for s in symbols for i in self._items(s) if lo <= i["datetime"] < hi]


class SyntheticNewsSource:
    """Deterministic Finnhub-shaped items: 0-3 per symbol per calendar day, at any hour
    (after-hours and weekend items included), seeded per (symbol, day)."""

    TEMPLATES = (
        "{s} beats quarterly earnings estimates as revenue grows",
        "{s} shares fall after analyst downgrade",
        "{s} announces new product line and expansion plans",
        "Regulators open inquiry into {s} business practices",
        "{s} raises full-year guidance on strong demand",
        "{s} faces supply chain delays, warns on margins",
        "Investors weigh {s} valuation ahead of Fed decision",
        "{s} to buy back shares, lifts dividend",
    )

    def __init__(self, seed: int = 7):
        self.seed = seed

    def fetch(self, symbols: Sequence[str], start: date, end: date) -> list[tuple[str, dict]]:
        tagged = []
        now = datetime.now(timezone.utc)  # a real feed has nothing from the future
        for symbol in symbols:
            day = start
            while day < end:
                digest = hashlib.sha256(f"{self.seed}:{symbol}:{day}".encode()).digest()
                rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
                midnight = datetime.combine(day, datetime.min.time(), NEW_YORK)
                for n in range(int(rng.integers(0, 4))):
                    stamp = midnight + timedelta(seconds=int(rng.integers(0, 86400)))
                    if stamp > now:
                        continue
                    subject = "The market" if symbol == MARKET else symbol
                    tagged.append((symbol, {
                        "category": "general" if symbol == MARKET else "company",
                        "datetime": int(stamp.timestamp()),
                        "headline": self.TEMPLATES[int(rng.integers(len(self.TEMPLATES)))].format(s=subject),
                        "id": int.from_bytes(digest[8:14], "little") + n,
                        "image": "",
                        "related": symbol,
                        "source": "synthetic",
                        "summary": "",
                        "url": f"https://example.invalid/{symbol}/{day}/{n}",
                    }))
                day += timedelta(days=1)
        return tagged

"""Finnhub item parsing, the Finnhub source's limiter/retries/secrecy, replay and synthetic news."""

import json
from datetime import date

import finnhub
import pandas as pd
import pytest
import requests

from stock_assets.ingest.errors import SourceError
from stock_assets.ingest.news import (
    MARKET,
    FinnhubNewsSource,
    RateLimiter,
    ReplayNewsSource,
    SyntheticNewsSource,
    normalize_finnhub_items,
)

# Exactly the fields Finnhub's /company-news returns for one item.
ITEM = {
    "category": "company",
    "datetime": 1704931200,  # 2024-01-11 00:00 UTC = 2024-01-10 19:00 New York
    "headline": "Apple shares rise after upgrade",
    "id": 125133893,
    "image": "https://static.example/img.jpg",
    "related": "AAPL",
    "source": "Yahoo",
    "summary": "Analysts raised their target.",
    "url": "https://finnhub.io/api/news?id=abc",
}


def test_item_fields_map_to_the_contract_and_new_york_day():
    frame = normalize_finnhub_items([("AAPL", ITEM)])
    row = frame.iloc[0]
    assert list(frame.columns) == ["id", "published_at", "date", "symbol", "headline", "summary", "source", "url"]
    assert row["id"].startswith("1704931200_") and len(row["id"]) == 10 + 1 + 16
    assert row["published_at"] == pd.Timestamp("2024-01-11 00:00", tz="UTC")
    assert row["date"] == pd.Timestamp("2024-01-10")  # evening in New York, not the UTC day
    assert (row["symbol"], row["source"], row["summary"]) == ("AAPL", "Yahoo", "Analysts raised their target.")


def test_dedupe_by_id_keeps_distinct_items_and_symbols():
    other = dict(ITEM, id=125133894, datetime=ITEM["datetime"] + 60)
    frame = normalize_finnhub_items([("AAPL", ITEM), ("AAPL", ITEM), ("AAPL", other), ("MSFT", ITEM)])
    assert len(frame) == 3
    assert frame["id"].is_unique
    assert sorted(frame["symbol"]) == ["AAPL", "AAPL", "MSFT"]


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class RecordedFinnhub:
    """Answers like finnhub.Client (lists of items; FinnhubAPIException on HTTP errors)."""

    def __init__(self, clock, failures=()):
        self.clock, self.calls, self.failures = clock, [], list(failures)

    def company_news(self, symbol, _from, to):
        self.calls.append((self.clock(), symbol, _from, to))
        if self.failures:
            raise self.failures.pop(0)
        return [dict(ITEM, id=hash((symbol, _from)) % 10**9, related=symbol)]

    def general_news(self, category, min_id=0):
        self.calls.append((self.clock(), MARKET, category, min_id))
        return [dict(ITEM, category="top news", id=7)]


def http_error(status, body):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return finnhub.FinnhubAPIException(response)


def test_chunks_and_rate_limit_stay_under_60_calls_per_minute():
    clock = FakeClock()
    client = RecordedFinnhub(clock)
    source = FinnhubNewsSource("k", client=client, calls_per_minute=55, chunk_days=7, sleep=clock.sleep, clock=clock)
    tagged = source.fetch(["AAPL", "MSFT", "GOOGL", MARKET], date(2023, 1, 1), date(2023, 12, 31))
    company = [c for c in client.calls if c[1] != MARKET]
    # 365 days in 7-day chunks, the last one reaching one day past the window (UTC vs New York)
    assert len(company) == 3 * 53 and len(client.calls) == 160
    assert company[0][2:] == ("2023-01-01", "2023-01-07")
    assert company[52][2:] == ("2023-12-31", "2023-12-31")
    stamps = [c[0] for c in client.calls]
    for i in range(len(stamps)):
        in_window = [t for t in stamps if stamps[i] <= t < stamps[i] + 60]
        assert len(in_window) <= 55
    assert clock.now >= 120  # 160 calls at 55/minute need at least two full waits
    assert {s for s, _ in tagged} == {"AAPL", "MSFT", "GOOGL", MARKET}


def test_429_is_retried_with_backoff():
    clock = FakeClock()
    client = RecordedFinnhub(clock, failures=[http_error(429, {"error": "API limit reached"})] * 2)
    source = FinnhubNewsSource("k", client=client, backoff_seconds=2, sleep=clock.sleep, clock=clock)
    tagged = source.fetch(["AAPL"], date(2024, 1, 1), date(2024, 1, 3))
    assert len(tagged) == 1 and clock.sleeps == [2, 4]


def test_api_error_names_the_call_and_never_shows_the_key():
    clock = FakeClock()
    key = "sk_live_SECRET123"
    failure = http_error(401, {"error": f"Invalid API key {key}"})
    source = FinnhubNewsSource(key, client=RecordedFinnhub(clock, [failure]), sleep=clock.sleep, clock=clock)
    with pytest.raises(SourceError) as err:
        source.fetch(["AAPL"], date(2024, 1, 1), date(2024, 1, 3))
    assert "company_news AAPL 2024-01-01..2024-01-03" in str(err.value) and "HTTP 401" in str(err.value)
    assert key not in str(err.value)
    assert clock.sleeps == []  # a 401 is not retried


def test_network_error_from_the_real_client_scrubs_the_key_from_the_url():
    # The real finnhub client puts the token in the URL; without network the error message holds it.
    key = "sk_live_SECRET456"
    source = FinnhubNewsSource(key, max_attempts=2, backoff_seconds=0, sleep=lambda s: None)
    with pytest.raises(SourceError) as err:
        source.fetch(["AAPL"], date(2024, 1, 1), date(2024, 1, 2))
    assert "after 2 attempt(s)" in str(err.value) and "ConnectionError" in str(err.value)
    assert key not in str(err.value)


def test_missing_key_says_how_to_fix():
    with pytest.raises(SourceError, match="FINNHUB_API_KEY is not set"):
        FinnhubNewsSource(None)


def test_rate_limiter_sliding_window():
    clock = FakeClock()
    limiter = RateLimiter(3, 60, clock=clock, sleep=clock.sleep)
    for _ in range(7):
        limiter.acquire()
    assert clock.sleeps == [60, 60]


def test_replay_news_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "news").mkdir()
    good = json.dumps(ITEM)
    (tmp_path / "news" / "AAPL.jsonl").write_text(f"{good}\n{{not json\n")
    with pytest.raises(SourceError, match=r"AAPL.jsonl:2: not valid JSON"):
        ReplayNewsSource(tmp_path).fetch(["AAPL"], date(2024, 1, 1), date(2024, 2, 1))
    (tmp_path / "news" / "AAPL.jsonl").write_text(json.dumps({k: v for k, v in ITEM.items() if k != "datetime"}) + "\n")
    with pytest.raises(SourceError, match=r"AAPL.jsonl:1: missing field 'datetime'"):
        ReplayNewsSource(tmp_path).fetch(["AAPL"], date(2024, 1, 1), date(2024, 2, 1))


def test_synthetic_news_is_deterministic_and_includes_off_hours():
    a = normalize_finnhub_items(SyntheticNewsSource(1).fetch(["AAPL", MARKET], date(2015, 1, 1), date(2015, 3, 1)))
    b = normalize_finnhub_items(SyntheticNewsSource(1).fetch(["AAPL", MARKET], date(2015, 1, 1), date(2015, 3, 1)))
    pd.testing.assert_frame_equal(a, b)
    local = a["published_at"].dt.tz_convert("America/New_York")
    assert (local.dt.hour >= 16).any() and (local.dt.day_of_week >= 5).any()
    assert set(a["symbol"]) == {"AAPL", MARKET}

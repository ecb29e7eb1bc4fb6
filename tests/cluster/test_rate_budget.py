"""Drill (d): the Finnhub budget held across two processes by the network buckets: pyrate-limiter's
PostgreSQL bucket (counted on the database's clock) and its Redis bucket, on real servers."""

import psycopg
import pytest
import redis

from stock_assets.ingest.limits import SharedRateLimiter
from tests.ingest.test_limits import assert_two_processes_hold_the_budget


def test_two_processes_never_exceed_the_budget_in_the_postgres_bucket(tmp_path, database_url):
    assert_two_processes_hold_the_budget(tmp_path, {"STOCK_DATABASE_URL": database_url, "STOCK_RATE_BUCKET": "auto"})
    with psycopg.connect(database_url) as db:  # the permits were counted in PostgreSQL, not in a file
        assert db.execute("SELECT COUNT(*) FROM ratelimit___finnhub_test").fetchone()[0] > 0
    assert not (tmp_path / "limits.sqlite").exists()


def test_two_processes_never_exceed_the_budget_in_the_redis_bucket(tmp_path, redis_url):
    assert_two_processes_hold_the_budget(tmp_path, {"STOCK_REDIS_URL": redis_url, "STOCK_RATE_BUCKET": "redis"})
    assert redis.Redis.from_url(redis_url).exists("stock-rate:finnhub-test")
    assert not (tmp_path / "limits.sqlite").exists()


def test_a_network_bucket_without_its_server_setting_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("STOCK_DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCK_REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="STOCK_DATABASE_URL"):
        SharedRateLimiter(5, 1.0, tmp_path / "x.sqlite", "finnhub-x", backend="postgres")
    with pytest.raises(ValueError, match="STOCK_REDIS_URL"):
        SharedRateLimiter(5, 1.0, tmp_path / "x.sqlite", "finnhub-x", backend="redis")

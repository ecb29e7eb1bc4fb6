"""One call budget per API key, shared by every process that uses the key.

A backfill split across runs (or the automation's daily run beside a manual backfill) would
each keep its own in-process count and together exceed Finnhub's 60 calls/minute. The shared
limiter keeps the count in a pyrate-limiter bucket every run reaches (STOCK_RATE_BUCKET):
- sqlite: a file under STOCK_HOME guarded by a file lock: runs on one machine;
- postgres: a table in STOCK_DATABASE_URL (the Dagster PostgreSQL on the cluster), counted on
  the database's clock: pods on any node;
- redis: a sorted set in STOCK_REDIS_URL: pods on any node.
The bucket is named by a hash of the key (never the key).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pyrate_limiter import Duration, Limiter, Rate, SQLiteBucket

from stock_assets.settings import settings


def budget_name(api_key: str, service: str = "finnhub") -> str:
    return f"{service}-{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"


def network_bucket(backend: str, rates: list[Rate], name: str):
    """pyrate-limiter's PostgreSQL or Redis bucket for `name` on this deployment's servers."""
    s = settings()
    if backend == "postgres":
        if not s.stock_database_url:
            raise ValueError("STOCK_RATE_BUCKET=postgres needs STOCK_DATABASE_URL (a postgresql:// URL)")
        from psycopg_pool import ConnectionPool
        from pyrate_limiter import PostgresBucket

        from stock_assets.postgres import libpq_url

        pool = ConnectionPool(libpq_url(s.stock_database_url), min_size=1, max_size=2, open=True,
                              kwargs={"autocommit": False})
        return PostgresBucket(pool, re.sub(r"\W", "_", name), rates)
    if backend == "redis":
        if not s.stock_redis_url:
            raise ValueError("STOCK_RATE_BUCKET=redis needs STOCK_REDIS_URL (a redis:// URL)")
        import redis
        from pyrate_limiter import RedisBucket

        return RedisBucket.init(rates, redis.Redis.from_url(s.stock_redis_url), f"stock-rate:{name}")
    raise ValueError(f"unknown rate bucket backend {backend!r}: sqlite, postgres or redis")


class SharedRateLimiter:
    """At most `calls` acquisitions per `period` seconds across all processes sharing the bucket:
    the SQLite file `db_path`, or the network bucket STOCK_RATE_BUCKET names."""

    def __init__(self, calls: int, period: float, db_path: str | Path, name: str, backend: str | None = None):
        rate = Rate(calls, int(period * Duration.SECOND))
        self.name = name
        self.backend = backend or settings().rate_bucket
        if self.backend == "sqlite":
            path = Path(db_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.bucket = SQLiteBucket.init_from_file([rate], table="rate_budget", db_path=str(path), use_file_lock=True)
        else:
            self.bucket = network_bucket(self.backend, [rate], name)
        self.limiter = Limiter(self.bucket)

    def acquire(self) -> None:
        if not self.limiter.try_acquire(self.name, blocking=True):
            raise TimeoutError(f"rate limiter {self.name}: no permit")

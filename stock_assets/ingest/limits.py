"""One call budget per API key, shared by every process that uses the key on this machine.

A backfill split across runs (or the automation's daily run beside a manual backfill) would
each keep its own in-process count and together exceed Finnhub's 60 calls/minute. The shared
limiter keeps the count in pyrate-limiter's SQLite bucket under STOCK_HOME, guarded by a file
lock, so concurrent runs on one machine draw from one budget. The bucket is named by a hash of
the key (never the key). Pods on several nodes need a network bucket: pyrate-limiter's Redis or
PostgreSQL buckets take the same rate (see the README's Kubernetes section).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pyrate_limiter import Duration, Limiter, Rate, SQLiteBucket


def budget_name(api_key: str, service: str = "finnhub") -> str:
    return f"{service}-{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"


class SharedRateLimiter:
    """At most `calls` acquisitions per `period` seconds across all processes using `db_path`."""

    def __init__(self, calls: int, period: float, db_path: str | Path, name: str):
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rate = Rate(calls, int(period * Duration.SECOND))
        self.name = name
        self.bucket = SQLiteBucket.init_from_file([rate], table="rate_budget", db_path=str(path), use_file_lock=True)
        self.limiter = Limiter(self.bucket)

    def acquire(self) -> None:
        if not self.limiter.try_acquire(self.name, blocking=True):
            raise TimeoutError(f"rate limiter {self.name}: no permit")

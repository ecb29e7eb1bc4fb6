"""One Finnhub budget per API key across processes: pyrate-limiter's SQLite bucket with a file lock
(the PostgreSQL and Redis buckets: tests/cluster/test_rate_budget.py)."""

import os
import subprocess
import sys
import textwrap

from stock_assets.ingest.limits import SharedRateLimiter, budget_name
from stock_assets.ingest.resources import NewsSourceResource
from tests.conftest import REPO

CALLS, PERIOD = 5, 2.0
PROBE = textwrap.dedent("""
    import sys, time
    from stock_assets.ingest.limits import SharedRateLimiter
    limiter = SharedRateLimiter({calls}, {period}, sys.argv[1], "finnhub-test")
    with open(sys.argv[2], "a") as out:
        for _ in range(int(sys.argv[3])):
            before = time.time()
            limiter.acquire()
            out.write(f"{{before}} {{time.time()}}\\n")
            out.flush()
""").format(calls=CALLS, period=PERIOD)


def test_two_processes_never_exceed_the_shared_budget(tmp_path):
    assert_two_processes_hold_the_budget(tmp_path, {"STOCK_RATE_BUCKET": "sqlite"})


def assert_two_processes_hold_the_budget(tmp_path, env: dict) -> None:
    """Two processes take 8 permits each from one bucket (the backend `env` names)."""
    stamps = tmp_path / "stamps"
    command = [sys.executable, "-c", PROBE, str(tmp_path / "limits.sqlite"), str(stamps), "8"]
    workers = [subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}) for _ in range(2)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    # each permit was granted between `before` and `after` of its call (writing the stamp can lag
    # under load): CALLS + 1 consecutive permits must be able to span a whole period
    calls = sorted((float(a), float(b)) for a, b in (line.split() for line in stamps.read_text().splitlines()))
    calls.sort(key=lambda c: c[1])
    assert len(calls) == 16
    for first, last in zip(calls, calls[CALLS:]):
        assert last[1] - first[0] >= PERIOD - 0.01, (first, last)
    # 16 calls at 5 per 2 s need at least 3 full periods: the processes waited for each other
    assert calls[-1][1] - calls[0][0] >= 3 * PERIOD - 0.01


def test_the_finnhub_source_draws_from_the_budget_of_its_key_without_naming_it(tmp_path, monkeypatch):
    key = "sk_live_SECRET789"
    monkeypatch.setenv("FINNHUB_API_KEY", key)
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    source = NewsSourceResource(source="finnhub", symbols=["AAPL"]).build()
    assert isinstance(source.limiter, SharedRateLimiter)
    assert source.limiter.name == budget_name(key) and key not in source.limiter.name
    assert (tmp_path / "limits" / "finnhub.sqlite").exists()
    assert key.encode() not in (tmp_path / "limits" / "finnhub.sqlite").read_bytes()

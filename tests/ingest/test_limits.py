"""One Finnhub budget per API key across processes: pyrate-limiter's SQLite bucket with a file lock."""

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
            limiter.acquire()
            out.write(f"{{time.time()}}\\n")
            out.flush()
""").format(calls=CALLS, period=PERIOD)


def test_two_processes_never_exceed_the_shared_budget(tmp_path):
    stamps = tmp_path / "stamps"
    command = [sys.executable, "-c", PROBE, str(tmp_path / "limits.sqlite"), str(stamps), "8"]
    workers = [subprocess.Popen(command, cwd=REPO) for _ in range(2)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    times = sorted(float(line) for line in stamps.read_text().split())
    assert len(times) == 16
    busiest = max(sum(1 for u in times if t <= u < t + PERIOD) for t in times)
    assert busiest <= CALLS
    # 16 calls at 5 per 2 s need at least 3 full periods: the processes waited for each other
    assert times[-1] - times[0] >= 3 * PERIOD - 0.2


def test_the_finnhub_source_draws_from_the_budget_of_its_key_without_naming_it(tmp_path, monkeypatch):
    key = "sk_live_SECRET789"
    monkeypatch.setenv("FINNHUB_API_KEY", key)
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    source = NewsSourceResource(source="finnhub", symbols=["AAPL"]).build()
    assert isinstance(source.limiter, SharedRateLimiter)
    assert source.limiter.name == budget_name(key) and key not in source.limiter.name
    assert (tmp_path / "limits" / "finnhub.sqlite").exists()
    assert key.encode() not in (tmp_path / "limits" / "finnhub.sqlite").read_bytes()

"""PostgreSQL for state shared by processes on several machines (STOCK_DATABASE_URL).

Every operation runs in its own short transaction on a fresh connection and is written to be
safe to repeat, so a lost connection (PostgreSQL restarted, a failover) is retried until the
server is back (RETRY_S) instead of failing the run. No Dagster here.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import TypeVar

import psycopg
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_S = 120.0  # a restart or failover takes seconds; a server gone for minutes is an outage to report
CONNECT_TIMEOUT_S = 10


def libpq_url(url: str) -> str:
    """SQLAlchemy-style URLs (postgresql+psycopg2://, as Dagster's tooling writes them) as libpq reads them."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def in_transaction(url: str, work: Callable[[psycopg.Connection], T], retry_s: float = RETRY_S) -> T:
    """Run `work(connection)` in one transaction (committed when it returns); repeated on a new
    connection while the server cannot be reached, for up to `retry_s` seconds."""

    @retry(retry=retry_if_exception_type(psycopg.OperationalError), stop=stop_after_delay(retry_s),
           wait=wait_exponential(multiplier=0.2, max=5), reraise=True, before_sleep=before_sleep_log(log, logging.WARNING))
    def attempt() -> T:
        with psycopg.connect(libpq_url(url), connect_timeout=CONNECT_TIMEOUT_S) as connection:
            return work(connection)  # the context manager commits on return, rolls back on error

    return attempt()


def create_once(connection: psycopg.Connection, name: str, statements: list[str]) -> None:
    """Run `statements` (CREATE ... IF NOT EXISTS) under a transaction-scoped advisory lock:
    concurrent CREATE TABLE IF NOT EXISTS can race on PostgreSQL's catalog."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(name.encode()) & 0x7FFFFFFF,))
    for statement in statements:
        connection.execute(statement)

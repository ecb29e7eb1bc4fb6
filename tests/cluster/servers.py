"""Real servers for the cluster tests, started and stopped by the tests: Debian's PostgreSQL 15
(initdb + pg_ctl, as the `postgres` user when the tests run as root: PostgreSQL refuses root),
redis-server, and moto's standalone S3 server (a real HTTP S3 API on loopback, reached through
s3fs like any S3). Missing programs fail the test naming the Debian package to install."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from stock_assets.processes import free_port, running, wait_until


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    pytest.fail(f"PostgreSQL's {name} is missing: `apt-get install postgresql` (make test installs it)")


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres:
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://stock@127.0.0.1:{self.port}/stock"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres_user([postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args]),
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.pg_ctl("-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def fresh_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        with psycopg.connect(f"postgresql://stock@127.0.0.1:{self.port}/postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://stock@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_server():
    base = Path(tempfile.mkdtemp(prefix="stock_pg_"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    subprocess.run(_as_postgres_user([postgres_bin("initdb"), "-D", str(data), "-U", "stock", "--auth=trust",
                                      "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
    server = Postgres(data, free_port(), base / "server.log")
    server.start()
    try:
        with psycopg.connect(f"postgresql://stock@127.0.0.1:{server.port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE stock")
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server():
    program = shutil.which("redis-server")
    if not program:
        pytest.fail("redis-server is missing: `apt-get install redis-server` (make test installs it)")
    port = free_port()
    with running([program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]):
        import redis

        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill-secret", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server():
    """moto's standalone server (`moto_server`): the S3 REST API over HTTP on loopback."""
    port = free_port()
    with running([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]):
        endpoint = f"http://127.0.0.1:{port}"
        import httpx

        wait_until(lambda: httpx.get(f"{endpoint}/moto-api/").status_code == 200, 60, "moto S3 server")
        yield endpoint


def make_bucket(endpoint: str, bucket: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                           secret=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    fs.mkdir(bucket)


def wait_for_port_free(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)

"""Starting, waiting for and stopping local servers (Triton, Chroma, the Dagster UI) from the demo and the tests."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_signals():
    # Background shells start children with SIGINT/SIGTERM ignored; servers must stay stoppable.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def running(command: list[str], **popen):
    """Run `command` in its own process group; stop the whole group afterwards."""
    proc = start_group(command, **popen)
    try:
        yield proc
    finally:
        stop_group(proc)


def start_group(command: list[str], **popen) -> subprocess.Popen:
    """Start `command` as a server in its own process group (stoppable signals; output discarded
    unless `stdout`/`stderr` are given)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(command, preexec_fn=default_signals, start_new_session=True, **popen)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop the process group of `proc` (SIGKILL when `sig` is not obeyed in time); a group that
    is gone already (a drill killed it) is fine."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_until(probe, timeout: float = 120, what: str = "server"):
    """Call `probe` until it returns a truthy value (HTTP errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")

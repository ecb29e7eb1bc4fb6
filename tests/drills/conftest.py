"""Fault drills: real run processes killed with SIGKILL at chosen points, real servers restarted;
each drill ends with the invariant it protects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from tests.conftest import REPO


@dataclass
class Run:
    returncode: int
    summary: dict | None
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def start_run(job: str, args: dict, kill: str | None = None, barrier: str | None = None, **env) -> subprocess.Popen:
    """A run process (tests/drills/run_process.py) for `job`; see there for `kill` and `barrier`."""
    env = {**os.environ, **{k: str(v) for k, v in env.items()}}
    env.pop("DRILL_KILL", None)
    env.pop("DRILL_BARRIER", None)
    if kill:
        env["DRILL_KILL"] = kill
    if barrier:
        env["DRILL_BARRIER"] = barrier
    return subprocess.Popen([sys.executable, "-m", "tests.drills.run_process", job, json.dumps(args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 600) -> Run:
    out, err = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    summary = json.loads(lines[-1]) if process.returncode == 0 and lines else None
    return Run(process.returncode, summary, err[-4000:])


def finish_all(processes: list[subprocess.Popen], timeout: float = 600) -> list[Run]:
    """`finish` for processes that run at once: their pipes are drained together (one drained
    after another would leave the other blocked on a full pipe, writing its log)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(processes)) as pool:
        return list(pool.map(lambda p: finish(p, timeout), processes))


def run_job(job: str, args: dict, kill: str | None = None, **env) -> Run:
    return finish(start_run(job, args, kill, **env))

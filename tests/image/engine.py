"""Running the project image the way a pod runs it: the manifest's command as the entrypoint, its
args after the image, its env, STOCK_HOME on a mounted folder (the PVC's role), no network but the
container's own loopback (probes are made from inside the container)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO

ENGINE = shutil.which("podman") or shutil.which("docker")
IMAGE_REPOSITORY = "ghcr.io/example/stock-news"


def image_tag() -> str:
    """The tag `make image` builds: the project version (docker/build-image.sh)."""
    return re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    if ENGINE and Path(ENGINE).name == "podman":
        env.setdefault("CONTAINERS_CONF", str(REPO / "docker" / "containers.conf"))
    return env


def engine(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    if ENGINE is None:
        pytest.fail("no container engine: install podman (apt-get install podman runc debootstrap) or docker")
    return subprocess.run([ENGINE, *args], capture_output=True, text=True, timeout=timeout, check=check, env=engine_env())


def run_args(image: str, command: list[str] | None, args: list[str], env: dict[str, str],
             volumes: dict[Path, str], name: str | None = None, detach: bool = False) -> list[str]:
    cli = ["run", "--network", "none", "--name", name or f"stock-test-{uuid.uuid4().hex[:8]}"]
    cli += ["-d"] if detach else ["--rm"]
    for host, mount in volumes.items():
        cli += ["-v", f"{host}:{mount}"]
    for key, value in env.items():
        cli += ["-e", f"{key}={value}"]
    if command is not None:  # a pod's `command` replaces the image's entrypoint, `args` its CMD
        cli += ["--entrypoint", json.dumps(command)]
    return [*cli, image, *args]


def run(image: str, command: list[str] | None, args: list[str], env: dict[str, str] | None = None,
        volumes: dict[Path, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    result = engine(*run_args(image, command, args, env or {}, volumes or {}), timeout=timeout, check=False)
    assert result.returncode == 0, f"{command} {args} failed in the container:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


class Service:
    """A long-running container (a Deployment's pod), probed from inside, always removed."""

    def __init__(self, image: str, command: list[str] | None, args: list[str], env: dict[str, str], volumes: dict[Path, str]):
        self.name = f"stock-test-{uuid.uuid4().hex[:8]}"
        engine(*run_args(image, command, args, env, volumes, name=self.name, detach=True))

    def exec(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return engine("exec", self.name, *cmd, timeout=timeout, check=False)

    def http_get(self, port: int, path: str) -> tuple[int, str]:
        """GET http://127.0.0.1:PORT/PATH inside the container (the image has Python, not curl)."""
        script = (
            "import sys, urllib.request, urllib.error\n"
            f"try:\n    r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=10); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n"
        )
        result = self.exec("python", "-c", script)
        if result.returncode != 0:
            return 0, result.stderr
        status, _, body = result.stdout.partition("\n")
        return int(status), body

    def wait_until(self, probe, timeout: float = 180, what: str = "ready"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = probe()
            if outcome:
                return outcome
            if not self.running():
                break
            time.sleep(2)
        logs = engine("logs", self.name, check=False)
        pytest.fail(f"{self.name} never became {what}:\n{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}")

    def running(self) -> bool:
        state = engine("inspect", "--format", "{{.State.Running}}", self.name, check=False).stdout.strip()
        return state == "true"

    def remove(self):
        engine("kill", self.name, check=False)  # SIGKILL: a PID 1 without handlers ignores SIGTERM
        engine("rm", "-f", self.name, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

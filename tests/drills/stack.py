"""The serving stack as production runs it, on loopback: a Chroma server over STOCK_HOME's
collection, the local Triton, the local LLM server (SmolLM2) and the chatbot API as its own
uvicorn process. Each service is its own process group, so a drill can SIGKILL and restart it."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from stock_serving.local_llm import MODEL_ALIAS
from stock_serving.local_llm import command as llm_command
from stock_assets.processes import free_port, start_group, stop_group, wait_until
from tests.conftest import REPO
from tests.serving.home import fill_serving_home, triton_command, triton_ready


@dataclass
class Stack:
    home: object
    tiny_bert: object
    api_env: dict
    ports: dict = field(default_factory=lambda: {name: free_port() for name in ("api", "triton", "chroma", "llm")})
    procs: dict = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}" + ("/v1" if name == "llm" else "")

    def command(self, name: str) -> tuple[list[str], dict]:
        if name == "chroma":
            return [os.path.join(os.path.dirname(sys.executable), "chroma"), "run", "--path", str(self.home / "chromadb"),
                    "--host", "127.0.0.1", "--port", str(self.ports["chroma"])], {}
        if name == "triton":
            return triton_command(self.ports["triton"]), {"env": {**os.environ, "PYTHONPATH": str(REPO)}}
        if name == "llm":
            return llm_command(self.ports["llm"]), {}
        env = {**os.environ, "STOCK_HOME": str(self.home), "TRITON_URL": self.url("triton"), "CHROMA_HOST": "127.0.0.1",
               "CHROMA_PORT": str(self.ports["chroma"]), "STOCK_EMBEDDER": str(self.tiny_bert), "LLM_BASE_URL": self.url("llm"),
               "LLM_MODEL": MODEL_ALIAS, **self.api_env}
        return [sys.executable, "-m", "uvicorn", "stock_serving.api:app", "--host", "127.0.0.1", "--port", str(self.ports["api"]),
                "--log-level", "warning"], {"env": env}

    def probe(self, name: str) -> bool:
        if name == "chroma":
            return httpx.get(f"{self.url('chroma')}/api/v2/heartbeat", timeout=2).is_success
        if name == "triton":
            return triton_ready(self.url("triton"))
        if name == "llm":
            return httpx.get(f"{self.url('llm')}/models", timeout=5).status_code == 200
        return httpx.get(f"{self.api}/readyz", timeout=10).status_code == 200

    def start(self, name: str, wait: bool = True) -> None:
        command, extra = self.command(name)
        self.procs[name] = start_group(command, cwd=REPO, **extra)
        if wait:
            wait_until(lambda: self.probe(name), 180, name)

    def kill(self, name: str) -> float:
        """SIGKILL the service's whole process group, as a node failure would; returns the time."""
        stop_group(self.procs.pop(name), signal.SIGKILL)
        return time.monotonic()

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_group(proc)
        self.procs.clear()


@contextmanager
def serving_stack(home, tiny_bert, **api_env):
    """A filled STOCK_HOME and every service up, the API last; all stopped afterwards."""
    before = os.environ.get("STOCK_HOME")
    os.environ["STOCK_HOME"] = str(home)  # the assets write there
    stack = Stack(home, tiny_bert, {k: str(v) for k, v in api_env.items()})
    try:
        fill_serving_home(home, tiny_bert)
        for name in ("chroma", "triton", "llm", "api"):
            stack.start(name)
        yield stack
    finally:
        stack.stop()
        if before is None:
            os.environ.pop("STOCK_HOME", None)
        else:
            os.environ["STOCK_HOME"] = before

"""The serving processes a command (`make demo`, `make replay-days`) runs for its duration: the
local Triton and the chatbot API, started as their own commands (the code location never
imports the serving package)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from stock_assets.console_log import say

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def triton_server(home: Path):
    import httpx

    from stock_assets.processes import free_port, running, wait_until

    port = free_port()
    python = REPO / ".venv-triton" / "bin" / "python"
    command = [str(python), "-m", "stock_serving.triton_local.serve", "--http-port", str(port), "--grpc-port", str(free_port())]
    with running(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}):
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/v2/health/live").status_code == 200, 120, "triton")
        yield url


def ask(triton_url: str) -> dict:
    """A forecast and a chat answer from the chatbot API itself, started as `make api` starts it
    (the code location does not import the serving package)."""
    import httpx

    from stock_assets.processes import free_port, running, wait_until

    port = free_port()
    api = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "stock_serving.api:app", "--host", "127.0.0.1", "--port", str(port)]
    # its output goes where the command's own goes (the demo's log file), so a failed start shows why
    with running(command, cwd=REPO, env={**os.environ, "TRITON_URL": triton_url}, stdout=None, stderr=None):
        wait_until(lambda: httpx.get(f"{api}/readyz", timeout=10).status_code == 200, 180, "the chatbot API")
        symbol = httpx.get(f"{api}/readyz", timeout=10).json()["symbols"][0]
        question = f"What does the model expect for {symbol}?"
        reply = httpx.post(f"{api}/v1/chat", json={"message": question, "symbol": symbol}, timeout=300)
        if reply.status_code != 200:
            raise SystemExit(f"demo step failed: the chatbot API answered HTTP {reply.status_code}: {reply.text[:500]}")
        body = reply.json()
    forecast = body["forecast"]
    say(f"    {symbol}: next 5 closes " + ", ".join(f"{p['date']} {p['close']:.2f}" for p in forecast["forecast"]))
    say("    answer:\n      " + body["answer"].replace("\n", "\n      "))
    return {"symbol": symbol, "forecast": forecast, "sources": body["sources"], "llm": body["llm"]}

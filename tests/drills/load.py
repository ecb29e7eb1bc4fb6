"""A bounded load on the chatbot API over loopback: a fixed number of requests (forecast, news
search and chat in turn), a fixed concurrency, each with a timeout; the run stops by itself."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import numpy as np

BUSY = "the LLM was busy"


@dataclass
class Outcome:
    kind: str
    status: int  # 0: no answer within the client's timeout
    seconds: float
    llm: str | None = None
    busy: bool = False


def requests(count: int, symbols: list[str]) -> list[tuple[str, str, str, dict]]:
    """(kind, method, path, httpx kwargs), forecast / search / chat in turn over the symbols."""
    out = []
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        out.append([
            ("forecast", "GET", f"/v1/forecast/{symbol}", {}),
            ("search", "GET", "/v1/news/search", {"params": {"q": f"{symbol} earnings outlook", "symbol": symbol, "k": 5}}),
            ("chat", "POST", "/v1/chat", {"json": {"message": f"What does the news say about {symbol}?", "symbol": symbol}}),
        ][i % 3])
    return out


def drive(api: str, plan: list[tuple[str, str, str, dict]], concurrency: int, timeout: float) -> tuple[list[Outcome], float]:
    """Send `plan` with `concurrency` requests in flight; returns (outcomes, wall seconds)."""
    def one(item) -> Outcome:
        kind, method, path, kwargs = item
        started = time.monotonic()
        try:
            answer = client.request(method, f"{api}{path}", timeout=timeout, **kwargs)
        except httpx.HTTPError:
            return Outcome(kind, 0, time.monotonic() - started)
        seconds = time.monotonic() - started
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        # the LLM answered: its checked text shown, or withheld by the check against the data
        reached = body.get("llm") or ("withheld by the check" if body.get("llm_withheld") else None)
        return Outcome(kind, answer.status_code, seconds, reached if kind == "chat" else None,
                       kind == "chat" and BUSY in body.get("answer", ""))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.monotonic()
        outcomes = list(pool.map(one, plan))
        return outcomes, time.monotonic() - started


def summary(outcomes: list[Outcome], wall: float) -> dict:
    """Per kind and overall: count, statuses, p50/p95/max latency (s), throughput (requests/s)."""
    out = {}
    for kind in sorted({o.kind for o in outcomes}) + ["all"]:
        chosen = [o for o in outcomes if kind in ("all", o.kind)]
        seconds = np.array([o.seconds for o in chosen])
        statuses: dict[int, int] = {}
        for o in chosen:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        out[kind] = {"count": len(chosen), "statuses": statuses, "p50": float(np.percentile(seconds, 50)),
                     "p95": float(np.percentile(seconds, 95)), "max": float(seconds.max()),
                     "llm_answers": sum(1 for o in chosen if o.llm), "busy_fallbacks": sum(1 for o in chosen if o.busy)}
    out["all"]["throughput"] = len(outcomes) / wall
    return out


def table(figures: dict) -> str:
    lines = ["| requests | count | statuses | p50 s | p95 s | max s | chat: LLM answers / busy fallbacks |", "|---|---|---|---|---|---|---|"]
    for kind, f in figures.items():
        chat = f"{f['llm_answers']} / {f['busy_fallbacks']}" if kind in ("chat", "all") else ""
        statuses = ", ".join(f"{code or 'timeout'}: {n}" for code, n in sorted(f["statuses"].items()))
        lines.append(f"| {kind} | {f['count']} | {statuses} | {f['p50']:.3f} | {f['p95']:.3f} | {f['max']:.2f} | {chat} |")
    return "\n".join(lines) + f"\n\nThroughput {figures['all']['throughput']:.1f} requests/s."

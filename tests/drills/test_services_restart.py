"""Drill 5: the services behind the chatbot API go away (SIGKILL) and come back while the API runs
as its own uvicorn process: the LLM server, Triton and the Chroma server. Within 5 s /readyz names
the missing part; requests answer 503 with the reason (chat: the no-LLM or no-news answer) and
none waits past its timeout; when the service is back, /readyz is ready again with no API restart."""

import time

import httpx
import pytest

from stock_serving.local_llm import MODEL_ALIAS
from tests.drills.stack import serving_stack

pytestmark = pytest.mark.slow
NOTICE_S = 5.0  # /readyz must report a missing service within this
LLM_TIMEOUT_S = 20.0
TRITON_TIMEOUT_S = 10.0  # TritonForecaster's connection and network timeout


def noticed_within(api: str, since: float, condition) -> float:
    """Seconds from `since` until /readyz satisfies `condition` (polled); fails past NOTICE_S."""
    body = None
    while time.monotonic() - since < NOTICE_S:
        body = httpx.get(f"{api}/readyz", timeout=NOTICE_S).json()
        if condition(body):
            return time.monotonic() - since
        time.sleep(0.1)
    pytest.fail(f"/readyz did not report the change within {NOTICE_S} s: {body}")


def timed(method: str, url: str, limit: float, **kwargs) -> httpx.Response:
    """A request that must be answered within `limit` seconds."""
    started = time.monotonic()
    answer = httpx.request(method, url, timeout=limit + 5, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"{method} {url} took {elapsed:.1f} s (limit {limit} s)"
    return answer


def chat(api: str, symbol: str, limit: float = LLM_TIMEOUT_S) -> httpx.Response:
    return timed("POST", f"{api}/v1/chat", limit, json={"message": f"What does the model expect for {symbol}?"})


def llm_reached(body: dict) -> bool:
    """The LLM answered: its text shown (it passed the check against the data) or withheld with the reason."""
    return body["llm"] == MODEL_ALIAS or bool(body["llm_withheld"])


def test_services_going_away_and_coming_back(tmp_path, tiny_bert):
    with serving_stack(tmp_path / "home", tiny_bert, LLM_TIMEOUT=LLM_TIMEOUT_S) as stack:
        api = stack.api
        ready = httpx.get(f"{api}/readyz").json()
        assert ready["llm"] is True and ready["degraded"] == [], ready
        assert llm_reached(chat(api, "AAPL").json())

        # the LLM server dies: readiness says so; chat answers without it, says so, and fast
        since = stack.kill("llm")
        noticed_within(api, since, lambda b: b["llm"] is False and "llm" in b["degraded"])
        answer = chat(api, "AAPL", limit=5.0)
        assert answer.status_code == 200 and answer.json()["llm"] is None
        assert "No language model was used for this answer (LLM unreachable: ConnectError)." in answer.json()["answer"]
        stack.start("llm")
        wait = time.monotonic()
        while httpx.get(f"{api}/readyz").json()["llm"] is not True:
            assert time.monotonic() - wait < NOTICE_S, "the LLM is back but /readyz does not say so"
            time.sleep(0.1)
        assert llm_reached(chat(api, "MSFT").json())

        # Triton dies: 503 naming it; forecasts 503 with the reason; chat answers from the news
        since = stack.kill("triton")
        noticed_within(api, since, lambda b: b["status"] == "degraded" and "triton" in b["degraded"])
        assert httpx.get(f"{api}/readyz").status_code == 503
        forecast = timed("GET", f"{api}/v1/forecast/AAPL", TRITON_TIMEOUT_S)
        assert forecast.status_code == 503 and "forecast unavailable" in forecast.json()["detail"]["error"]
        answer = chat(api, "AAPL")
        assert answer.status_code == 200 and answer.json()["forecast"] is None and answer.json()["sources"]
        stack.start("triton")
        noticed_within(api, time.monotonic(), lambda b: b["status"] == "ready")
        assert timed("GET", f"{api}/v1/forecast/AAPL", TRITON_TIMEOUT_S).status_code == 200

        # the Chroma server dies: search 503 with the reason; chat answers from the forecast
        since = stack.kill("chroma")
        noticed_within(api, since, lambda b: b["status"] == "degraded" and "chroma" in b["degraded"])
        search = timed("GET", f"{api}/v1/news/search", 10.0, params={"q": "iphone"})
        assert search.status_code == 503 and "news search is unavailable" in search.json()["detail"]["error"]
        answer = chat(api, "AAPL").json()
        assert answer["forecast"]["symbol"] == "AAPL"
        assert "News search is unavailable" in answer["answer"] and "the sources are the lake's own" in answer["answer"]
        stack.start("chroma")
        noticed_within(api, time.monotonic(), lambda b: b["status"] == "ready")
        assert timed("GET", f"{api}/v1/news/search", 10.0, params={"q": "iphone", "k": 3}).json()["results"]

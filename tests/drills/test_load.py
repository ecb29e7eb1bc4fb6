"""Drill 7: a bounded load on loopback against the whole serving stack (Triton, a Chroma server,
the local LLM, the API as a uvicorn process). No answer but 200 (503 only when a
dependency is down; never 429); chats beyond the LLM's capacity get the fallback answer within the queue
timeout instead of waiting in an unbounded queue."""

import pytest

from tests.drills.load import drive, requests, summary, table
from tests.drills.stack import serving_stack

pytestmark = pytest.mark.slow
QUEUE_S, LLM_TIMEOUT_S = 2.0, 30.0


def test_bounded_load_answers_everything_and_bounds_the_llm_queue(tmp_path, tiny_bert):
    with serving_stack(tmp_path / "home", tiny_bert, LLM_CONCURRENCY=1, LLM_QUEUE_TIMEOUT=QUEUE_S, LLM_TIMEOUT=LLM_TIMEOUT_S) as stack:
        outcomes, wall = drive(stack.api, requests(60, ["AAPL", "MSFT"]), concurrency=20, timeout=120)
    figures = summary(outcomes, wall)
    print(table(figures))
    # the API never answers 429: a chat past the LLM's capacity gets a 200 answer without the LLM that says so
    assert set(figures["all"]["statuses"]) <= {200, 503}, figures  # no 500, no timeout
    assert figures["all"]["statuses"].get(200, 0) == 60, figures  # nothing was down: everything answered
    chats = [o for o in outcomes if o.kind == "chat"]
    assert all(o.llm or o.busy for o in chats)  # every chat: the LLM's summary or the stated fallback
    assert any(o.llm for o in chats) and any(o.busy for o in chats), figures
    # a chat waits at most for its slot and then for one completion; none waits in an unbounded queue
    # (the forecast and the news search before the LLM take up to ~10 s when 20 requests share 2 cores)
    assert max(o.seconds for o in chats if o.busy) < QUEUE_S + 20, figures
    assert max(o.seconds for o in chats) < QUEUE_S + LLM_TIMEOUT_S + 10, figures

"""The chatbot API: forecasts from Triton, news search in ChromaDB, answers from an LLM.

    uvicorn stock_serving.api:app --host 127.0.0.1 --port 8080
"""

from __future__ import annotations

import hmac
import json
from contextlib import asynccontextmanager
from datetime import date

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from stock_serving.answer import answer as chat_answer
from stock_serving.answer import stream_answer
from stock_serving.question import read_question
from stock_serving.service import NotReady, ServingConfig, ServingState, UnknownSymbol

MAX_MESSAGE = 2000


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.service = ServingState(ServingConfig.from_env())
    yield


app = FastAPI(title="Stock news chatbot", lifespan=lifespan)


@app.exception_handler(NotReady)
def not_ready(request: Request, exc: NotReady) -> JSONResponse:
    return JSONResponse({"detail": {"error": str(exc)}}, status_code=503)


def service(request: Request) -> ServingState:
    return request.app.state.service


def known_symbol(symbol: str, state: ServingState) -> str:
    symbol = symbol.strip().upper()
    if symbol not in state.symbols:
        raise HTTPException(404, detail={"error": f"unknown symbol {symbol!r}", "known_symbols": state.symbols})
    return symbol


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE)
    symbol: str | None = Field(default=None, max_length=12, description="the symbol meant when the message names none")
    previous: str | None = Field(default=None, max_length=MAX_MESSAGE,
                                 description="the conversation's previous question, for a follow-up such as 'and MSFT?'")


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/readyz")
def readyz(state: ServingState = Depends(service)):
    triton = state.triton.ready()
    try:
        size, chroma, chroma_error = state.vector_store().collection.count(), True, None
    except Exception as exc:  # noqa: BLE001 - any failure means the store is not usable
        size, chroma, chroma_error = None, False, str(exc)
        state.store = None  # reconnect on the next request: a restarted server is picked up
    llm = state.llm.reachable() if state.llm.configured else None
    body = {
        "triton": triton, "chroma": chroma, "llm": llm, "panel": state.panel is not None,
        "model_version": state.triton.model_version() if triton else None, "collection_size": size,
        "symbols": state.symbols,
        "embedder": state.embedder is not None,
        "degraded": [
            name for name, ok in (("triton", triton), ("chroma", chroma), ("llm", llm), ("panel", state.panel is not None),
                                  ("embedder", state.embedder is not None)) if ok is False
        ],
    }
    if state.embedder_error:
        body["embedder_error"] = state.embedder_error
    if chroma_error:
        body["chroma_error"] = chroma_error
    body["status"] = "ready" if triton and chroma and body["panel"] and body["embedder"] else "degraded"
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


@app.get("/v1/forecast/{symbol}")
def forecast(symbol: str, state: ServingState = Depends(service)) -> dict:
    symbol = known_symbol(symbol, state)
    try:
        return state.forecast(symbol)
    except UnknownSymbol:
        raise HTTPException(404, detail={"error": f"not enough history for {symbol}", "known_symbols": state.symbols}) from None
    except Exception as exc:  # noqa: BLE001 - Triton down or model missing: say so
        raise HTTPException(503, detail={"error": f"forecast unavailable: {type(exc).__name__}: {str(exc)[:200]}"}) from None


@app.get("/v1/news/search")
def news_search(
    q: str = Query(min_length=1, max_length=500),
    symbol: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    k: int = Query(default=5, ge=1, le=50),
    state: ServingState = Depends(service),
) -> dict:
    if date_from and date_to and date_from > date_to:
        # a request validation error like FastAPI's own, so the 422 body is the one the schema documents
        raise RequestValidationError([{"type": "value_error", "loc": ["query", "date_from"], "input": str(date_from),
                                       "msg": f"date_from {date_from} is after date_to {date_to}"}])
    symbol = known_symbol(symbol, state) if symbol else None
    return {"results": state.search(q, symbol, date_from, date_to, k)}


SOURCE_FIELDS = ("headline", "date", "source", "url", "symbol", "score", "sentiment", "sentiment_scorer")


def read_request(request: ChatRequest, state: ServingState):
    chosen = known_symbol(request.symbol, state) if request.symbol else None
    if state.panel is None:
        raise NotReady("no prices to answer from yet: the lake has no training panel (materialize training_windows)")
    covered, as_of = state.symbols, state.as_of
    previous = read_question(request.previous, covered, as_of) if request.previous else None
    reading = read_question(request.message, covered, as_of, previous)
    if chosen and not reading.symbols and not reading.uncovered:  # the UI's selected symbol, when the text names none
        reading = read_question(f"{request.message} {chosen}", covered, as_of, previous)
    return reading


def chat_body(reading, result: dict) -> dict:
    plan = result["plan"]
    forecasts = {s: f for s, f in plan.forecasts.items() if f}
    first = next(iter(forecasts.values()), None)
    return {
        "answer": result["answer"],
        "reading": {"intent": reading.intent, "symbols": list(reading.symbols), "uncovered": list(reading.uncovered),
                    "period": result["period"].as_list(), "period_label": result["period"].label,
                    "period_named": reading.period is not None, "as_of": reading.as_of.isoformat(),
                    "follow_up": reading.follow_up, "text": result["reading_text"]},
        "forecast": first,
        "forecasts": forecasts,
        "sources": [{k: s.get(k) for k in SOURCE_FIELDS} for s in plan.sources],
        "model_version": first["model_version"] if first else None,
        "llm": result["llm"],
        "llm_withheld": result["llm_withheld"],
        **({"llm_pending": result["llm_pending"]} if "llm_pending" in result else {}),
    }


@app.post("/v1/chat")
def chat(request: ChatRequest, state: ServingState = Depends(service)) -> dict:
    """The whole answer at once (the LLM's words included, when they pass the check)."""
    reading = read_request(request, state)
    return chat_body(reading, chat_answer(state, request.message, reading))


@app.post("/v1/chat/stream", response_class=StreamingResponse,
          responses={200: {"content": {"application/x-ndjson": {}}, "description": "one JSON event per line"}})
def chat_stream(request: ChatRequest, state: ServingState = Depends(service)) -> StreamingResponse:
    """The answer as it is made, one JSON object per line: {"event": "first", ...the answer without
    the LLM's words} at once, then {"event": "llm", "text": ...} pieces as the LLM writes, then
    {"event": "final", ...the answer} (the LLM's words if they passed the check, else the extractive
    summary and why)."""
    reading = read_request(request, state)

    def events():
        for kind, value in stream_answer(state, request.message, reading):
            body = {"event": "llm", "text": value} if kind == "llm" else {"event": kind, **chat_body(reading, value)}
            yield json.dumps(body) + "\n"

    return StreamingResponse(events(), media_type="application/x-ndjson")


@app.post("/v1/admin/reload")
def reload(authorization: str | None = Header(default=None), state: ServingState = Depends(service)) -> dict:
    token = state.config.admin_token
    if not token:
        raise HTTPException(403, detail={"error": "reload is disabled: CHATBOT_ADMIN_TOKEN is not set"})
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given, token):
        raise HTTPException(401, detail={"error": "a valid bearer token is required"})
    return state.reload()

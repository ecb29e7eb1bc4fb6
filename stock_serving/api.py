"""The chatbot API: forecasts from Triton, news search in ChromaDB, answers from an LLM.

    uvicorn stock_serving.api:app --host 127.0.0.1 --port 8080
"""

from __future__ import annotations

import hmac
from contextlib import asynccontextmanager
from datetime import date

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from stock_serving.rag import answer as chat_answer
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
    symbol: str | None = Field(default=None, max_length=12)


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


def symbol_in(message: str, symbols: list[str]) -> str | None:
    words = {w.strip("$?,.!:;()").upper() for w in message.split()}
    return next((s for s in symbols if s in words), None)


@app.post("/v1/chat")
def chat(request: ChatRequest, state: ServingState = Depends(service)) -> dict:
    symbol = known_symbol(request.symbol, state) if request.symbol else symbol_in(request.message, state.symbols)
    forecast_body = None
    if symbol:
        try:
            forecast_body = state.forecast(symbol)
        except Exception:  # noqa: BLE001 - answer from the news alone when no forecast is possible
            forecast_body = None
    try:
        sources, news_error = state.search(request.message, symbol, None, None, 5), None
    except NotReady as exc:
        if forecast_body is None:
            raise  # nothing left to answer from: 503 with the reason
        sources, news_error = [], str(exc)  # the forecast's facts still answer
    answer, llm_used = chat_answer(state.llm, request.message, forecast_body, sources)
    if news_error:
        answer = f"{answer}\n\n{news_error[:1].upper()}{news_error[1:]}."
    return {
        "answer": answer,
        "forecast": forecast_body,
        "sources": [{k: s[k] for k in ("headline", "date", "source", "url", "symbol", "score", "sentiment", "sentiment_scorer")} for s in sources],
        "model_version": forecast_body["model_version"] if forecast_body else None,
        "llm": llm_used,
    }


@app.post("/v1/admin/reload")
def reload(authorization: str | None = Header(default=None), state: ServingState = Depends(service)) -> dict:
    token = state.config.admin_token
    if not token:
        raise HTTPException(403, detail={"error": "reload is disabled: CHATBOT_ADMIN_TOKEN is not set"})
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given, token):
        raise HTTPException(401, detail={"error": "a valid bearer token is required"})
    return state.reload()

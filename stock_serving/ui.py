"""Streamlit UI for analysts: chat, the recent closes with the 5-day forecast, cited sources.

    streamlit run stock_serving/ui.py   (talks to the chatbot API at API_URL)
"""

import os

import httpx
import pandas as pd
import streamlit as st

API_URL = os.environ.get("API_URL", "http://127.0.0.1:8080").rstrip("/")


class ApiError(RuntimeError):
    pass


def call(method: str, path: str, **kwargs) -> dict:
    try:
        answer = httpx.request(method, f"{API_URL}{path}", timeout=180, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"the API at {API_URL} is unreachable ({type(exc).__name__})") from None
    body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {"detail": answer.text}
    if answer.status_code >= 400 and not (path == "/readyz" and answer.status_code == 503):
        detail = body.get("detail", body)
        raise ApiError(f"API error {answer.status_code}: {detail.get('error', detail) if isinstance(detail, dict) else detail}")
    return body


def chart(forecast: dict) -> None:
    history = pd.DataFrame(forecast["history"]).assign(kind="close")
    ahead = pd.DataFrame([forecast["history"][-1], *forecast["forecast"]]).assign(kind="forecast")
    frame = pd.concat([history, ahead]).pivot_table(index="date", columns="kind", values="close")
    st.line_chart(frame, x_label="session", y_label="price")
    st.caption(f"{forecast['symbol']}: 30 closes and the 5-session forecast, model version {forecast['model_version']}")


def sources(items: list[dict]) -> None:
    lines = []
    for n, s in enumerate(items, start=1):
        title = s["headline"].replace("[", "(").replace("]", ")")
        text = f"[{title}]({s['url']})" if s.get("url") else title
        lines.append(f"{n}. {text} — {s['date']}, {s['source'] or 'unknown source'}")
    st.markdown("**Sources**\n\n" + "\n".join(lines) if lines else "_No sources._")


def show(reply: dict) -> None:
    st.markdown(reply["answer"].replace("\n", "  \n"))  # keep the answer's line breaks
    st.caption(f"LLM: {reply['llm'] or 'none (answer built from the forecast and headlines)'}")
    if reply.get("forecast"):
        chart(reply["forecast"])
    sources(reply.get("sources", []))


st.set_page_config(page_title="Stock news chatbot", layout="wide")
st.title("Stock forecast and news")
try:
    ready = call("GET", "/readyz")
except ApiError as exc:
    ready = None
    st.error(str(exc))
symbols = (ready or {}).get("symbols", [])
with st.sidebar:
    symbol = st.selectbox("Symbol", ["(any)", *symbols])
    if ready:
        st.write(f"Model version: {ready.get('model_version') or 'none'}")
        st.write(f"Headlines indexed: {ready.get('collection_size')}")
        if ready.get("degraded"):
            st.warning("Degraded: " + ", ".join(ready["degraded"]))

st.session_state.setdefault("turns", [])
for turn in st.session_state["turns"]:
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant"):
        show(turn["reply"])

question = st.chat_input("Ask about a stock, e.g. what does the model expect for AAPL this week?")
if question:
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        try:
            payload = {"message": question, **({"symbol": symbol} if symbol != "(any)" else {})}
            reply = call("POST", "/v1/chat", json=payload)
        except ApiError as exc:
            st.error(str(exc))
        else:
            show(reply)
            st.session_state["turns"].append({"question": question, "reply": reply})

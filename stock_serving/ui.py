"""Streamlit UI for analysts: chat, the recent closes with the 5-day forecast, cited sources.

    streamlit run stock_serving/ui.py   (talks to the chatbot API at API_URL)
"""

import json
import os

import httpx
import pandas as pd
import streamlit as st

from stock_serving.markdown import as_markdown, literal, safe_url

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


def stream_events(payload: dict):
    """The API's streamed answer, one event per line (see /v1/chat/stream)."""
    try:
        with httpx.stream("POST", f"{API_URL}/v1/chat/stream", json=payload, timeout=180) as answer:
            if answer.status_code >= 400:
                body = answer.read()
                try:
                    detail = json.loads(body).get("detail", body.decode())
                except ValueError:
                    detail = body.decode(errors="replace")
                raise ApiError(f"API error {answer.status_code}: {detail.get('error', detail) if isinstance(detail, dict) else detail}")
            for line in answer.iter_lines():
                if line.strip():
                    yield json.loads(line)
    except httpx.HTTPError as exc:
        raise ApiError(f"the API at {API_URL} is unreachable ({type(exc).__name__})") from None


def streamed(payload: dict) -> dict:
    """Facts and sources at once; the LLM's words as they come, marked as being checked; then the
    final answer in their place (the LLM's checked words, or the extractive summary and why)."""
    events = stream_events(payload)
    first = next(events)
    slot = st.empty()
    with slot.container():
        show(first)
    final = first
    if first.get("llm_pending"):
        pieces = st.empty()
        with pieces.container():
            st.caption("The language model is phrasing the news summary; its text is checked against the data before it stays.")
            final = None

            def text():
                nonlocal final
                for event in events:
                    if event["event"] == "llm":
                        yield literal(event["text"])
                    elif event["event"] == "final":
                        final = event

            st.write_stream(text)
        pieces.empty()
        final = final or first
        with slot.container():
            show(final)
    return final


def chart_frame(forecast: dict) -> pd.DataFrame:
    """One row per session: the close (history), the forecast and its 80 % interval (ahead);
    the forecast line starts at the last close so the two lines join."""
    last = forecast["history"][-1]
    rows = [{"date": p["date"], "close": p["close"]} for p in forecast["history"]]
    rows[-1].update(forecast=last["close"], low=last["close"], high=last["close"])
    rows += [{"date": p["date"], "forecast": p["close"], "low": p.get("low", p["close"]), "high": p.get("high", p["close"])}
             for p in forecast["forecast"]]
    return pd.DataFrame(rows).assign(date=lambda f: pd.to_datetime(f["date"]))


def chart(forecast: dict) -> None:
    import altair as alt

    frame = chart_frame(forecast)
    values = frame[["close", "forecast", "low", "high"]].stack()
    pad = 0.05 * max(float(values.max() - values.min()), 1e-6)
    y = alt.Scale(domain=[float(values.min()) - pad, float(values.max()) + pad], zero=False)  # fit the data, not 0
    base = alt.Chart(frame).encode(x=alt.X("date:T", title="session"))
    band = base.mark_area(opacity=0.25, color="#1f77b4").encode(
        y=alt.Y("low:Q", scale=y, title="price"), y2="high:Q", tooltip=["date:T", "low:Q", "forecast:Q", "high:Q"])
    history = base.mark_line(color="black").encode(y=alt.Y("close:Q", scale=y))
    ahead = base.mark_line(color="#1f77b4", strokeDash=[4, 2], point=True).encode(y=alt.Y("forecast:Q", scale=y))
    st.altair_chart(band + history + ahead, use_container_width=True)
    skill = forecast.get("model_skill") or {}
    measured = (f" Selection figure (on the {skill['windows']} recent windows that chose it): skill vs the random walk "
                f"{100 * skill['skill']:+.2f} %, 80 % interval coverage {100 * skill['coverage_80']:.0f} %."
                if skill.get("skill") is not None else "")
    record = (forecast.get("track_record") or {}).get("sentence", "")
    st.caption(f"{forecast['symbol']}: 30 closes, the 5-session forecast and its 80 % interval (shaded), "
               f"model version {forecast['model_version']}. Live track record: {literal(record)}{measured}")


def sources(items: list[dict]) -> None:
    lines, scorers = [], []
    for n, s in enumerate(items, start=1):
        title, url = literal(s["headline"]), safe_url(s.get("url"))
        text = f"[{title}]({url})" if url else title
        mood = f" — sentiment: **{literal(s['sentiment'])}**" if s.get("sentiment") else ""
        lines.append(f"{n}. {text} — {literal(s['date'])}, {literal(s['source'] or 'unknown source')}{mood}")
        if s.get("sentiment_scorer") and s["sentiment_scorer"] not in scorers:
            scorers.append(s["sentiment_scorer"])
    st.markdown("**Sources**\n\n" + "\n".join(lines) if lines else "_No sources._")
    if scorers:  # the scorer and its measured figure travel with every label
        st.caption("Sentiment scored by " + literal("; ".join(scorers)))


def show(reply: dict) -> None:
    if reply.get("reading"):
        st.caption(literal(reply["reading"]["text"]))
    # the answer's own source list is shown below as links instead
    st.markdown(as_markdown(reply["answer"].split("\n\nSources:\n")[0]))
    st.caption(f"LLM: {reply['llm'] or 'none (answer built from the platform data)'}")
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
        st.markdown(literal(turn["question"]))
    with st.chat_message("assistant"):
        show(turn["reply"])

question = st.chat_input("Ask about a stock, e.g. what does the model expect for AAPL this week?")
if question:
    with st.chat_message("user"):
        st.markdown(literal(question))
    with st.chat_message("assistant"):
        previous = st.session_state["turns"][-1]["question"] if st.session_state["turns"] else None
        payload = {"message": question, **({"symbol": symbol} if symbol != "(any)" else {}),
                   **({"previous": previous} if previous else {})}
        try:
            reply = streamed(payload)
        except ApiError as exc:
            st.error(str(exc))
        else:
            st.session_state["turns"].append({"question": question, "reply": reply})

"""The chat answer to the question asked: read it (question.py), state the facts its intent needs
(facts.py, from the lake), cite sources from its window, and summarize the window's news
extractively (stories.py). An LLM may phrase that summary; its text is shown only when it passes
answer_check.py, else the extractive summary is shown with the reason the LLM's text was withheld.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from stock_serving.answer_check import check_llm_text
from stock_serving.facts import Facts, compare_facts, default_period, move_facts, news_facts
from stock_serving.llm import LLMBusy, LLMError
from stock_serving.question import Period, Reading, company_name, companies
from stock_serving.retrieval import distinct
from stock_serving.rag import build_messages, clean_summary, format_forecast, headline_lines, sentiment_balance

log = logging.getLogger(__name__)
MAX_SOURCES = 8
SHOWN_REASONS = 4  # of a withheld text's problems, in the answer (all of them in the log and the API's llm_withheld)
SEARCH_SOURCES = 5
FALLING = ("fall", "fell", "drop", "down", "declin", "slid", "slide", "tumbl", "sank", "sell", "sold", "lower", "slip", "lost")


@dataclass
class Draft:
    """Everything but the summary's wording: facts, the extractive summary, the cited items."""
    reading: Reading
    facts: list[str]
    summary: list[str]  # the extractive summary (stories), one line each
    sources: list[dict]
    forecasts: dict[str, dict | None] = field(default_factory=dict)
    llm_allowed: bool = True
    notes: list[str] = field(default_factory=list)  # what could not be used (news search down)


def reading_text(reading: Reading, period: Period) -> str:
    named = ", ".join(reading.symbols) or "no covered symbol"
    return f"Read as: {reading.intent} for {named}, {period.label}; data up to {reading.as_of}."


def uncovered_facts(reading: Reading, covered: list[str]) -> Facts:
    import difflib

    names = {c.symbol: c.name for c in companies()}
    listed = ", ".join(f"{s} ({names.get(s, s)})" for s in covered)
    lines = []
    for symbol in reading.uncovered:
        close = difflib.get_close_matches(names.get(symbol, symbol).lower(), [names.get(s, s).lower() for s in covered], n=2, cutoff=0.6)
        near = f" Closest covered names: {', '.join(close)}." if close else ""
        lines.append(f"{symbol} ({company_name(symbol)}) is not covered by this platform: it has no prices, news or forecast "
                     f"for it.{near}")
    lines.append(f"Covered symbols: {listed or 'none yet'}.")
    return Facts(lines=lines)


def draft(state, reading: Reading, question: str) -> Draft:
    """The facts and sources for `reading`; `state` is the ServingState (panel, news, forecasts, search)."""
    covered = state.symbols
    if reading.intent == "uncovered" or (not reading.symbols and reading.intent in ("outlook", "move", "compare")):
        if not reading.uncovered and not reading.symbols:
            facts = Facts(lines=[f"Name a covered symbol (ticker or company): {', '.join(covered) or 'none yet'}."])
        else:
            facts = uncovered_facts(reading, covered)
        return Draft(reading, facts.lines, [], [], llm_allowed=False)
    table = state.news.table()
    period = reading.period or default_period(reading.as_of)
    facts, forecasts = Facts(), {}
    symbols = list(reading.symbols)
    if reading.intent in ("outlook", "compare"):
        for symbol in symbols:
            try:
                forecasts[symbol] = state.forecast(symbol)
            except Exception as exc:  # noqa: BLE001 - Triton down, too little history: the answer says so
                log.info("no forecast for %s: %s", symbol, exc)
                forecasts[symbol] = None
    if reading.intent == "outlook":
        for symbol in symbols:
            facts.lines.append(format_forecast(forecasts[symbol]) if forecasts[symbol] else
                               f"{symbol}: no forecast is available now (the forecaster cannot be reached or has too little history).")
    elif reading.intent == "move":
        falling = any(w in question.lower() for w in FALLING) or None
        for symbol in symbols:
            facts.add(move_facts(state.panel, table, symbol, period, falling))
    elif reading.intent == "compare":
        facts.lines.append("Side by side:")
        facts.add(compare_facts(state.panel, table, forecasts, symbols, reading.period))
    story_facts = news_facts(table, symbols or None, period, with_sentiment=reading.intent == "sentiment")
    if reading.intent == "sentiment":
        facts.add(story_facts)
        summary = []
    else:
        summary = story_facts.lines
        facts.cited += story_facts.cited
    sources, notes = list(facts.cited), []
    for symbol in symbols or [None]:
        try:
            sources += state.search(question, symbol, period.start, period.end, SEARCH_SOURCES)
        except Exception as exc:  # noqa: BLE001 - the vector store is down: the lake's items still cite
            log.info("news search unavailable: %s", exc)
            message = str(exc)
            notes = [f"{message[:1].upper()}{message[1:]}; the sources are the lake's own."]
            break
    inside = [s for s in sources if period.start.isoformat() <= str(s.get("session") or s["date"]) <= period.end.isoformat()
              or period.start.isoformat() <= str(s["date"]) <= period.end.isoformat()]
    return Draft(reading, facts.lines, summary, distinct(inside, MAX_SOURCES), forecasts, notes=notes)


@dataclass(frozen=True)
class Phrasing:
    text: str | None  # the LLM's summary, checked; None when none is shown
    note: str | None  # the sentence that says why no LLM text is shown
    withheld: str | None = None  # the check's reasons, when the LLM's text failed it


def phrasings(llm, question: str, plan: Draft, streamed: bool):
    """The LLM's wording of the extractive summary: with `streamed`, its text pieces as they come;
    last, the Phrasing (shown only when it passes the check, else why not)."""
    if not plan.llm_allowed or not plan.summary:
        yield Phrasing(None, None)
        return
    if not llm.configured:
        yield Phrasing(None, "No language model was used for this answer.")
        return
    facts_text = "\n".join(plan.facts + plan.summary)
    messages = build_messages(question, facts_text, plan.sources, ", ".join(plan.reading.symbols) or None)
    try:
        for piece in llm.stream(messages) if streamed else [llm.complete(messages)]:
            yield piece if isinstance(piece, str) else checked_phrasing(piece.text, piece.cut_off, facts_text, plan.sources)
    except LLMError as exc:  # LLMBusy included: the busy fallback is stated, not logged
        if not isinstance(exc, LLMBusy):
            log.warning("chat answered without the LLM at %s: %s", llm.base_url, exc)
        yield Phrasing(None, f"No language model was used for this answer ({exc}).")


def phrase(llm, question: str, plan: Draft) -> Phrasing:
    """The LLM's wording in one piece (no stream): the Phrasing alone."""
    return next(phrasings(llm, question, plan, streamed=False))


def checked_phrasing(raw: str, cut_off: bool, facts_text: str, sources: list[dict]) -> Phrasing:
    text = clean_summary(raw)
    if not text:
        return Phrasing(None, "The language model's summary was withheld: it was empty once instructions and markup were removed.",
                        "empty")
    allowed = facts_text + "\n" + "\n".join(f"{s['date']} {s['headline']} {s.get('source') or ''}" for s in sources)
    checked = check_llm_text(text, allowed, cut_off=cut_off)
    if not checked.passed:
        reasons = "; ".join(checked.problems)
        log.warning("LLM text withheld (%s): %r", reasons, text)
        shown = "; ".join(checked.problems[:SHOWN_REASONS])
        more = len(checked.problems) - SHOWN_REASONS
        shown += f"; and {more} more" if more > 0 else ""
        return Phrasing(None, f"The language model's summary was withheld: it did not pass the check against the data ({shown}).",
                        reasons)
    return Phrasing(text, None)


def compose(plan: Draft, phrasing: Phrasing, llm_name: str | None) -> str:
    parts = ["\n".join(plan.facts)]
    if phrasing.text:
        parts.append(f"News summary ({llm_name}, checked against the data): {phrasing.text}")
    elif plan.summary:
        parts.append("News summary (extractive: the period's headlines grouped into stories):\n" + "\n".join(plan.summary))
    if phrasing.note:
        parts.append(phrasing.note)
    parts += plan.notes
    if plan.sources:
        parts.append(sentiment_balance(plan.sources))
        parts.append("Sources:\n" + "\n".join(headline_lines(plan.sources)))
    elif plan.llm_allowed:
        parts.append("No related headlines were found in the period.")
    return "\n\n".join(p for p in parts if p)


def stream_answer(state, question: str, reading: Reading):
    """Events for a streamed answer: ("first", result without the LLM's words: facts, the
    extractive summary, sources), ("llm", text piece)..., ("final", result)."""
    plan = draft(state, reading, question)
    period = reading.period or default_period(reading.as_of)
    base = {"plan": plan, "reading_text": reading_text(reading, period), "period": period}
    pending = plan.llm_allowed and bool(plan.summary) and state.llm.configured
    if not pending:  # nothing will follow: the first event is the whole answer
        phrasing = phrase(state.llm, question, plan)
        whole = {**base, "answer": compose(plan, phrasing, None), "llm": None, "llm_withheld": None, "llm_pending": False}
        yield "first", whole
        yield "final", whole
        return
    yield "first", {**base, "answer": compose(plan, Phrasing(None, None), None), "llm": None, "llm_withheld": None,
                    "llm_pending": True}
    for piece in phrasings(state.llm, question, plan, streamed=True):
        if isinstance(piece, str):
            yield "llm", piece
        else:
            used = state.llm.model if piece.text else None
            yield "final", {**base, "answer": compose(plan, piece, used), "llm": used, "llm_withheld": piece.withheld,
                            "llm_pending": False}


def answer(state, question: str, reading: Reading) -> dict:
    """The whole answer: text, the reading, the forecasts, the sources and which LLM phrased it."""
    plan = draft(state, reading, question)
    phrasing = phrase(state.llm, question, plan)
    used = state.llm.model if phrasing.text else None
    period = reading.period or default_period(reading.as_of)
    return {"answer": compose(plan, phrasing, used), "plan": plan, "llm": used, "llm_withheld": phrasing.withheld,
            "reading_text": reading_text(reading, period), "period": period}


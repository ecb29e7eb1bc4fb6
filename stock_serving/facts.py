"""The facts an answer states, computed from the lake, never by the LLM: each intent's figures as
plain sentences (every number and date in them comes from the panel's closes or the news table).

Closes are the panel's adjusted closes (dividends and splits folded in, as the model sees them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from stock_serving.question import Period, company_name
from stock_serving.rag import scorer_name
from stock_serving.retrieval import distinct, is_boilerplate
from stock_serving.news_table import headline_item, sentiment_counts
from stock_serving.stories import stories

DEFAULT_DAYS = 30  # the news window when the question names none: the 30 days to the latest session
RECENT_SESSIONS = 20  # "recent return" in a comparison when the question names no period
BIG_DAYS = 3  # largest daily moves shown for a "why did it move" question
NEWS_PER_DAY = 2


@dataclass
class Facts:
    lines: list[str] = field(default_factory=list)
    cited: list[dict] = field(default_factory=list)  # headlines the facts quote (date, source, url, sentiment)

    def add(self, other: Facts) -> None:
        self.lines += other.lines
        self.cited += [c for c in other.cited if c["id"] not in {x["id"] for x in self.cited}]


def default_period(as_of: date) -> Period:
    start = as_of - timedelta(days=DEFAULT_DAYS - 1)
    return Period(start, as_of, f"the {DEFAULT_DAYS} days to {as_of}")


def pct(value: float) -> str:
    return f"{100 * value:+.1f} %".replace("-", "−")


def closes(panel, symbol: str) -> pd.Series:
    """The symbol's adjusted closes by session (YYYY-MM-DD), sessions it traded only."""
    column = panel.symbols.index(symbol)
    series = pd.Series(panel.close[:, column].astype(np.float64), index=[str(d) for d in panel.sessions])
    return series[np.isfinite(series.to_numpy())]


def period_closes(series: pd.Series, period: Period) -> tuple[pd.Series, str | None]:
    """(closes from the last session before the period through its last session, that base session)."""
    inside = series[(series.index >= period.start.isoformat()) & (series.index <= period.end.isoformat())]
    before = series[series.index < period.start.isoformat()]
    base = before.index[-1] if len(before) else None
    return (series.loc[[base, *inside.index]] if base else inside), base


def change(series: pd.Series, period: Period) -> tuple[float, str, str] | None:
    span, _ = period_closes(series, period)
    if len(span) < 2:
        return None
    return float(span.iloc[-1] / span.iloc[0] - 1), span.index[0], span.index[-1]


def extreme_move(span: pd.Series, falling: bool) -> tuple[str, float, str, float] | None:
    """The largest peak-to-later-trough fall (or trough-to-later-peak rise) inside `span`."""
    values = span.to_numpy()
    best, where = 0.0, None
    for j in range(1, len(values)):
        i = int(np.argmax(values[:j])) if falling else int(np.argmin(values[:j]))
        move = values[j] / values[i] - 1
        if (falling and move < best) or (not falling and move > best):
            best, where = move, (i, j)
    if where is None:
        return None
    i, j = where
    return span.index[i], float(values[i]), span.index[j], float(values[j])


def news_of_day(news: pd.DataFrame, symbol: str, day: str, k: int = NEWS_PER_DAY) -> list[dict]:
    rows = news[(news["session"] == day) & (news["symbol"] == symbol)]
    items = [headline_item(r) for r in rows.itertuples() if not is_boilerplate(r.headline, symbol)]
    return distinct(items[::-1], k)  # the latest first


def move_facts(panel, news_table, symbol: str, period: Period, falling: bool | None) -> Facts:
    facts = Facts()
    series = closes(panel, symbol)
    span, base = period_closes(series, period)
    if len(span) < 2:
        first, last = (series.index[0], series.index[-1]) if len(series) else ("-", "-")
        facts.lines.append(f"{symbol}: no sessions in {period.label} in the lake (its closes run from {first} to {last}).")
        return facts
    total = float(span.iloc[-1] / span.iloc[0] - 1)
    facts.lines.append(f"{symbol} ({company_name(symbol)}), {period.label}: adjusted close {span.iloc[0]:.2f} on "
                       f"{span.index[0]} → {span.iloc[-1]:.2f} on {span.index[-1]}, {pct(total)} close to close.")
    if symbol != "SPY" and "SPY" in panel.symbols:
        market = change(closes(panel, "SPY"), Period(date.fromisoformat(span.index[0]) + timedelta(days=1),
                                                      date.fromisoformat(span.index[-1]), period.label))
        if market:
            facts.lines.append(f"SPY (the S&P 500) over the same sessions: {pct(market[0])}.")
    inside = span.iloc[1:] if base else span
    extreme = extreme_move(inside, falling if falling is not None else total < 0)
    if extreme and len(inside) > 2:
        a, va, b, vb = extreme
        word = "fall" if vb < va else "rise"
        facts.lines.append(f"Largest {word} within the period: from {va:.2f} on {a} to {vb:.2f} on {b} ({pct(vb / va - 1)}).")
    daily = span.pct_change().dropna()
    if len(daily) > 1:
        big = daily.reindex(daily.abs().sort_values(ascending=False).index[:BIG_DAYS])
        news, _ = news_table.window([symbol], date.fromisoformat(big.index.min()), date.fromisoformat(big.index.max()), by="session")
        facts.lines.append("Largest daily moves:")
        for day, move in big.items():
            items = news_of_day(news, symbol, day)
            facts.cited += items
            said = "; ".join(f'"{i["headline"]}"' for i in items) or "no headline that day"
            facts.lines.append(f"- {day}: {pct(move)} (close {span.loc[day]:.2f}). News that day: {said}")
    return facts


def forecast_line(forecast: dict) -> str:
    last, final = forecast["history"][-1], forecast["forecast"][-1]
    band = f" (80 % band {final['low']:.2f} to {final['high']:.2f})" if "low" in final else ""
    return (f"last close {last['close']:.2f} on {last['date']}; forecast for {final['date']}: {final['close']:.2f}{band}, "
            f"model version {forecast['model_version']}")


def balance_text(frame: pd.DataFrame) -> str:
    counts = sentiment_counts(frame)
    total = sum(counts.values())
    if not total:
        return "no scored headlines"
    return ", ".join(f"{n} {label}" for label, n in counts.items() if n) + f" of {total} headlines"


def compare_facts(panel, news_table, forecasts: dict[str, dict | None], symbols: list[str], period: Period | None) -> Facts:
    facts = Facts()
    as_of = date.fromisoformat(str(panel.sessions[-1]))
    for symbol in symbols:
        series = closes(panel, symbol)
        window = period or Period(date.fromisoformat(series.index[-RECENT_SESSIONS]) if len(series) > RECENT_SESSIONS
                                  else date.fromisoformat(series.index[0]), as_of, f"the last {RECENT_SESSIONS} sessions")
        moved = change(series, window)
        parts = [f"{symbol} ({company_name(symbol)})"]
        forecast = forecasts.get(symbol)
        parts.append(forecast_line(forecast) if forecast else "no forecast available")
        if moved:
            parts.append(f"return over {window.label}: {pct(moved[0])} ({moved[1]} to {moved[2]})")
        if forecast and (forecast.get("track_record") or {}).get("sentence"):
            parts.append("live record: " + forecast["track_record"]["sentence"].rstrip("."))
        news_window = period or default_period(as_of)
        frame, _ = news_table.window([symbol], news_window.start, news_window.end)
        parts.append(f"news sentiment over {news_window.label}: {balance_text(frame)}")
        facts.lines.append("- " + "; ".join(parts) + ".")
    return facts


def news_facts(news_table, symbols: list[str] | None, period: Period, with_sentiment: bool = False) -> Facts:
    facts = Facts()
    frame, vectors = news_table.window(symbols, period.start, period.end)
    who = ", ".join(symbols) if symbols else "all covered symbols"
    if frame.empty:
        facts.lines.append(f"No headlines for {who} in {period.label} in the lake.")
        return facts
    found = stories(frame, vectors, symbols)
    facts.lines.append(f"News for {who}, {period.label}: {len(frame)} headlines ({balance_text(frame)}); "
                       f"{len(found)} main stories:")
    for story in found:
        item = story["representative"]
        facts.cited.append(item)
        dates = story["first"] if story["first"] == story["last"] else f"{story['first']} to {story['last']}"
        facts.lines.append(f"- {dates}, {story['count']} headlines ({story['balance']}): \"{item['headline']}\"")
    if with_sentiment:
        scorers = sorted({scorer_name(s) for s in frame["sentiment_scorer"].dropna().unique()})
        facts.lines.insert(0, f"News sentiment for {who}, {period.label}: {balance_text(frame)} "
                              f"(scored by {', '.join(scorers) or 'no scorer'}).")
        scored = frame[frame["sentiment_score"].notna()]
        for label, row in (("Most positive", scored.nlargest(1, "sentiment_score")), ("Most negative", scored.nsmallest(1, "sentiment_score"))):
            for r in row.itertuples():
                facts.cited.append(headline_item(r))
                facts.lines.append(f"{label}: \"{r.headline}\" ({r.date}, {r.sentiment}).")
    return facts

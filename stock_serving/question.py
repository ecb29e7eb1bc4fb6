"""What an analyst's question asks: which symbols, which period, which intent. Rules, measured on a
written question set (tests/serving/data/questions.jsonl; bench/bench_answers.py reports accuracy).

- Symbols: tickers (upper case, a $cashtag, or lower case when the ticker is not an English word;
  one-letter tickers only as cashtags) and company names from stock_serving/data/companies.csv;
  a name with several listings (Google: GOOG, GOOGL) resolves to the covered one. Named but not
  covered -> `uncovered`.
- Period: relative to `as_of`, the latest session in the lake ("this week" is Monday to as_of,
  "last week" the Monday-to-Sunday before, "last month" the calendar month before, "the past
  month"/"last 10 days"/"last 5 sessions" trailing windows, "in December 2015", "Q4 2015",
  "since Dec 4", "from X to Y", "on Aug 24"); dates are read by dateutil. None: no period named.
- Intent, first rule that holds: uncovered (only uncovered symbols named), compare (a comparison
  word with two or more symbols, or two or more symbols and no other cue), sentiment, move (why /
  what happened / what drove), outlook (forecast, expect, will ...), news, move (a past-tense
  move: fell, rose, how did it do), else outlook.
- A follow-up ("and MSFT?", "what about last month?", "Why?") takes what it does not say from the
  previous question's reading.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib.resources import files

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from stock_assets.market_calendar import sessions

INTENTS = ("outlook", "move", "compare", "news", "sentiment", "uncovered")
MONTHS = ("january february march april may june july august september october november december").split()
MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
DAY = rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|{MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)? {MONTH}(?:,? \d{{4}})?)"
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}

COMPARE = re.compile(r"\b(compare[sd]?|comparison|vs\.?|versus|against|side by side|better|beat|outperform\w*|stack up|or)\b")
SENTIMENT = re.compile(r"\b(sentiment|mood|tone|bullish|bearish|optimistic|pessimistic|feel|positive|negative)\b")
WHY = re.compile(r"\b(why|what happened|what caused|what drove|what made|what pushed|what sent|explain|behind|reason)\b")
OUTLOOK = re.compile(r"\b(forecast\w*|expect\w*|outlook|predict\w*|target|will|going to|heading|next (week|\d+|few)|view)\b")
NEWS = re.compile(r"\b(news|headlines?|stor(y|ies)|press|reported|buzz|saying|said about|coverage|new with)\b")
MOVE = re.compile(r"\b(fell|fallen|dropped|drop|rose|risen|jumped|plunged|slid|slide|tumbled?|rall(ied|y)|surged|sank|"
                  r"soared|declined|gained|gain|lost|climbed|climb|slipped|slip|moved?|move|sell off|sold off|down|up|how did .{1,40}\b(do|perform|trade))\b")
FOLLOW_UP = re.compile(r"^\s*(and|what about|how about|same for|also|ok and)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str

    def as_list(self) -> list[str]:
        return [self.start.isoformat(), self.end.isoformat()]


@dataclass(frozen=True)
class Reading:
    intent: str
    symbols: tuple[str, ...]  # covered, in the order named
    uncovered: tuple[str, ...]  # named, not covered
    period: Period | None  # None: the question names none
    as_of: date
    follow_up: bool = False


@dataclass(frozen=True)
class Company:
    symbol: str
    name: str
    aliases: tuple[str, ...]


@lru_cache(maxsize=1)
def companies() -> tuple[Company, ...]:
    with (files("stock_serving") / "data" / "companies.csv").open() as handle:
        return tuple(Company(row["symbol"], row["name"], tuple(a for a in row["aliases"].split("|") if a))
                     for row in csv.DictReader(handle))


def company_name(symbol: str) -> str:
    return next((c.name for c in companies() if c.symbol == symbol), symbol)


@lru_cache(maxsize=1)
def _alias_patterns() -> list[tuple[re.Pattern, str]]:
    pairs = [(alias, c.symbol) for c in companies() for alias in c.aliases]
    pairs.sort(key=lambda pair: -len(pair[0]))  # "bank of america" before "america"
    return [(re.compile(rf"(?<![\w&]){re.escape(alias)}(?![\w&])", re.IGNORECASE), symbol) for alias, symbol in pairs]


def _ticker_ok_in_lower_case(symbol: str) -> bool:
    word = symbol.lower()
    return len(word) >= 3 and word not in ENGLISH_STOP_WORDS and word not in {"cat", "dis", "bud", "rex", "pep", "hon", "low"}


def named_symbols(text: str, covered: list[str]) -> list[str]:
    """Every symbol the text names (tickers and company names), in the order named."""
    known = {c.symbol for c in companies()} | set(covered)
    found: list[tuple[int, str]] = []
    for match in re.finditer(r"(\$\s?)?\b([A-Za-z][A-Za-z.\-]{0,5})(?:'s)?\b", text):
        cashtag, token = bool(match.group(1)), match.group(2)
        symbol = token.upper()
        if symbol not in known:
            continue
        if cashtag or (token.isupper() and len(token) >= 2) or (token.islower() and _ticker_ok_in_lower_case(symbol)):
            found.append((match.start(), symbol))
    masked = text
    for pattern, symbol in _alias_patterns():
        for match in pattern.finditer(masked):
            found.append((match.start(), symbol))
        masked = pattern.sub(lambda m: " " * len(m.group(0)), masked)
    ordered: list[str] = []
    for _, symbol in sorted(found):
        if symbol not in ordered:
            ordered.append(symbol)
    return ordered


def resolve(symbols: list[str], covered: list[str]) -> tuple[list[str], list[str]]:
    """(covered, uncovered): a company listed twice (GOOG/GOOGL) counts as covered when either is."""
    twins = {"GOOG": "GOOGL", "GOOGL": "GOOG"}
    inside, outside = [], []
    for symbol in symbols:
        if symbol in covered:
            target = inside
        elif twins.get(symbol) in covered:
            symbol, target = twins[symbol], inside
        else:
            target = outside
        if symbol not in target:
            target.append(symbol)
    outside = [s for s in outside if s not in inside and twins.get(s) not in inside]
    return inside, outside


def _parse_day(text: str, as_of: date) -> date:
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    day = date_parser.parse(text, default=datetime(as_of.year, 1, 1)).date()
    if not re.search(r"\d{4}", text) and day > as_of:  # "Dec 4" asked in January: last year's
        day = day.replace(year=day.year - 1)
    return day


def _month(name: str, year: int | None, as_of: date) -> Period:
    number = next(i for i, m in enumerate(MONTHS, start=1) if m.startswith(name[:3]))
    if year is None:
        year = as_of.year if number <= as_of.month else as_of.year - 1
    start = date(year, number, 1)
    return Period(start, start + relativedelta(months=1, days=-1), f"{MONTHS[number - 1].capitalize()} {year}")


def read_period(text: str, as_of: date) -> Period | None:
    """The period the text names (None: none, or one that does not exist: "31/31", "the past 99999 sessions")."""
    try:
        return _read_period(text, as_of)
    except (ValueError, OverflowError, IndexError):
        return None


def _read_period(text: str, as_of: date) -> Period | None:
    t = text.lower()
    monday = as_of - timedelta(days=as_of.weekday())
    if m := re.search(rf"\b(?:from|between)\s+({DAY})\s+(?:to|and|until|through|-)\s+({DAY})", t):
        start, end = _parse_day(m.group(1), as_of), _parse_day(m.group(2), as_of)
        return Period(start, end, f"{start} to {end}")
    if m := re.search(rf"\bsince\s+({DAY}|{MONTH}\b(?:\s+\d{{4}})?)", t):
        start = _parse_day(m.group(1) if re.search(r"\d", m.group(1)) else f"{m.group(1)} 1", as_of)
        return Period(start, as_of, f"since {start}")
    if m := re.search(rf"\b(?:on|of)\s+({DAY})", t):
        day = _parse_day(m.group(1), as_of)
        return Period(day, day, str(day))
    if m := re.search(r"\b(?:q([1-4])|(first|second|third|fourth|1st|2nd|3rd|4th) quarter)(?: of)?\s*(\d{4})?", t):
        quarter = int(m.group(1)) if m.group(1) else QUARTER_WORDS[m.group(2)]
        year = int(m.group(3)) if m.group(3) else as_of.year
        start = date(year, 3 * quarter - 2, 1)
        return Period(start, start + relativedelta(months=3, days=-1), f"Q{quarter} {year}")
    if m := re.search(rf"\b({MONTH})\.?\s+(\d{{4}})\b", t):
        return _month(m.group(1), int(m.group(2)), as_of)
    if re.search(r"\btoday\b", t):
        return Period(as_of, as_of, f"today ({as_of})")
    if re.search(r"\byesterday\b", t):
        day = sessions(as_of - timedelta(days=10), as_of)[-1].date()  # [start, end): the session before as_of
        return Period(day, day, f"yesterday ({day})")
    if m := re.search(r"\b(?:past|last|previous)\s+(\d+|" + "|".join(NUMBER_WORDS) + r")\s+(day|week|month|session|trading day)s?\b", t):
        count = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        unit = m.group(2)
        if unit in ("session", "trading day"):
            start = sessions(as_of - timedelta(days=3 * count + 10), as_of + timedelta(days=1))[-count].date()
        else:
            start = as_of - relativedelta(**{f"{unit}s": count}) + timedelta(days=1)
        return Period(start, as_of, f"the last {count} {unit}s to {as_of}")
    if re.search(r"\b(the (past|last) week|past week|past 7 days)\b", t):
        return Period(as_of - timedelta(days=6), as_of, f"the week to {as_of}")
    if re.search(r"\b(the (past|last) month|past month)\b", t):
        return Period(as_of - relativedelta(months=1) + timedelta(days=1), as_of, f"the month to {as_of}")
    if re.search(r"\bthis week\b", t):
        return Period(monday, as_of, f"this week ({monday} to {as_of})")
    if re.search(r"\blast week\b", t):
        start = monday - timedelta(days=7)
        return Period(start, start + timedelta(days=6), f"last week ({start} to {start + timedelta(days=6)})")
    if re.search(r"\bthis month\b", t):
        return Period(as_of.replace(day=1), as_of, f"this month ({as_of:%B %Y})")
    if re.search(r"\blast month\b", t):
        start = as_of.replace(day=1) - relativedelta(months=1)
        return replace(_month(MONTHS[start.month - 1], start.year, as_of), label=f"last month ({start:%B %Y})")
    if re.search(r"\b(this year|year to date|ytd)\b", t):
        return Period(date(as_of.year, 1, 1), as_of, f"{as_of.year} to date")
    if re.search(r"\blast year\b", t):
        return Period(date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31), str(as_of.year - 1))
    if m := re.search(rf"\b(?:in|during|for|over|of)\s+({MONTH})\b", t):
        return _month(m.group(1), None, as_of)
    if m := re.search(r"\b(?:in|during|for|over|of)\s+(\d{4})\b", t):
        year = int(m.group(1))
        return Period(date(year, 1, 1), date(year, 12, 31), str(year))
    return None


def read_intent(text: str, symbols: list[str], uncovered: list[str]) -> str | None:
    """The intent the text states, or None when it states none (a follow-up inherits one)."""
    t = text.lower()
    named = len(symbols) + len(uncovered)
    if uncovered and not symbols:
        return "uncovered"
    if named >= 2 and (COMPARE.search(t) or not (SENTIMENT.search(t) or WHY.search(t) or NEWS.search(t) or MOVE.search(t))):
        return "compare"
    for intent, pattern in (("sentiment", SENTIMENT), ("move", WHY), ("outlook", OUTLOOK), ("news", NEWS), ("move", MOVE)):
        if pattern.search(t):
            return intent
    return None


def read_question(text: str, covered: list[str], as_of: date, previous: Reading | None = None) -> Reading:
    named = named_symbols(text, covered)
    symbols, uncovered = resolve(named, covered)
    period = read_period(text, as_of)
    intent = read_intent(text, symbols, uncovered)
    follow_up = previous is not None and (bool(FOLLOW_UP.search(text)) or len(re.findall(r"\w+", text)) <= 3)
    if follow_up:
        if not symbols and not uncovered:
            symbols, uncovered = list(previous.symbols), list(previous.uncovered)
        elif previous.intent == "compare" and intent in (None, "compare") and symbols:
            symbols = list(dict.fromkeys([*previous.symbols, *symbols]))
        period = period or previous.period
        if intent is None or (intent == "compare" and previous.intent != "compare" and len(symbols) < 2):
            intent = "uncovered" if uncovered and not symbols else previous.intent
    if intent == "uncovered" and symbols:
        intent = "outlook"
    return Reading(intent or "outlook", tuple(symbols), tuple(uncovered), period, as_of, follow_up)

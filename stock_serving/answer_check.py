"""The check an LLM's text passes before an analyst sees it: it may only say what the platform's
facts and the cited headlines say.

Unsupported content, any of which withholds the text:
- a number (figures, percentages, prices) that is not a number of the facts or the cited items;
- a year, or a month name, that no date of the facts or items has;
- a ticker (a $cashtag or an upper-case symbol) or a capitalised name whose word appears in
  neither the facts nor the items (a company, a person, "COVID-19");
- a content word (four letters or more, not a stop word, not one of the few PHRASING words a
  summary needs) whose Porter stem is not a stem of the facts or items: a 135M model's invented
  "online shopping platform" or "plummeted" is withheld, a paraphrase in the data's own words passes;
- a move stated against its sign: "fell 3.3 %" where the data's 3.3 % is a rise;
- a repetition loop (a 4-word run said three times, or a sentence twice) or a cut-off text
  (the server stopped at its token limit, or the last sentence does not end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nltk.stem import PorterStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

MONTH_NAMES = ("january february march april may june july august september october november december").split()
NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
WORD = re.compile(r"[A-Za-z][A-Za-z'&\-]*")
# words an LLM may use to phrase a summary without stating a fact
PHRASING = frozenset("""headline headlines news story stories report reports reported sentiment positive negative neutral
    mixed overall meanwhile however also several many few some most mostly main mainly period week weeks month months day
    days session sessions stock stocks share shares price prices close closes closed market markets investor investors
    trader traders analyst analysts company companies coverage mention mentions mentioned discuss discussed discussing
    focus focused include included including summary summarize summarized related rose fell gained lost dropped moved
    largest biggest move moves moving fall rise decline declined gain loss up down higher lower while whereas although
    percent compared during between about were was said says other others total that this these those which""".split())
DOWN = frozenset("fell fall falls falling dropped drop drops lost loss lose declined decline declines down lower slid slide "
                 "sank tumbled plunged plummeted slumped".split())
UP = frozenset("rose rise rises rising gained gain gains up higher jumped climbed surged soared rallied".split())
STEM = PorterStemmer().stem


@dataclass
class CheckResult:
    passed: bool
    problems: list[str] = field(default_factory=list)


def normal_number(text: str) -> str | None:
    text = text.replace(",", "").replace("−", "-").lstrip("+-")
    try:
        value = float(text)
    except ValueError:
        return None
    return f"{value:.6g}"


def allowed_vocabulary(sources_text: str) -> tuple[set[str], set[str], set[str]]:
    """(numbers, words, years and month names) the LLM may state, from the facts and items."""
    numbers = {n for n in (normal_number(m) for m in NUMBER.findall(sources_text)) if n}
    for year, month, day in ISO_DATE.findall(sources_text):  # a date's parts may be said alone
        numbers |= {normal_number(year), normal_number(month), normal_number(day)}
    words = {w.lower() for w in WORD.findall(sources_text)}
    times = {y for y, _, _ in ISO_DATE.findall(sources_text)} | {MONTH_NAMES[int(m) - 1] for _, m, _ in ISO_DATE.findall(sources_text)}
    times |= {w for w in words if w in MONTH_NAMES} | set(re.findall(r"\b(?:19|20)\d{2}\b", sources_text))
    return numbers, words, times


def loops(text: str) -> str | None:
    tokens = re.findall(r"\w+", text.lower())
    runs: dict[tuple, int] = {}
    for i in range(len(tokens) - 3):
        gram = tuple(tokens[i:i + 4])
        runs[gram] = runs.get(gram, 0) + 1
        if runs[gram] >= 3:
            return f"a repetition loop (\"{' '.join(gram)}\" three times)"
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 10]
    if len(sentences) != len(set(sentences)):
        return "a repeated sentence"
    return None


def signed_numbers(text: str) -> dict[str, set[int]]:
    """Each percentage's signs in the data: "+3.3 %" -> {"3.3": {1}}."""
    signs: dict[str, set[int]] = {}
    for raw in re.findall(r"[-+−]?\d+(?:\.\d+)?(?=\s?%)", text):
        value = normal_number(raw)
        if value:
            signs.setdefault(value, set()).add(-1 if raw[0] in "-−" else 1)
    return signs


def contradicted_moves(text: str, sources_text: str) -> list[str]:
    """A percentage said with a move word against every sign the data gives it."""
    signs, problems = signed_numbers(sources_text), []
    tokens = re.findall(r"[-+−]?\d+(?:\.\d+)?(?=\s?%)|[a-z]+", text.lower())
    for i, token in enumerate(tokens):
        value = normal_number(token) if token[0].isdigit() or token[0] in "-+−" else None
        if value is None or value not in signs:
            continue
        near = set(tokens[max(0, i - 4):i])
        said = -1 if near & DOWN else 1 if near & UP else 0
        if said and said not in signs[value]:
            problems.append(f"{token} % is said as a {'fall' if said < 0 else 'rise'}, but it is a {'rise' if said < 0 else 'fall'} in the data")
    return problems


def check_llm_text(text: str, sources_text: str, cut_off: bool = False) -> CheckResult:
    """Whether `text` states only what `sources_text` (facts + cited items) supports."""
    problems = []
    if cut_off or not re.search(r"[.!?][\"')\]]?\s*$", text.strip()):
        problems.append("the text is cut off")
    if looped := loops(text):
        problems.append(looped)
    numbers, words, times = allowed_vocabulary(sources_text)
    for raw in NUMBER.findall(text):
        value = normal_number(raw)
        if value and value not in numbers:
            problems.append(f"the number {raw.strip()} is not in the data")
    for year in re.findall(r"\b(?:19|20)\d{2}\b", text):
        if year not in times:
            problems.append(f"the year {year} is not in the data")
    for match in WORD.finditer(text):
        word = re.sub(r"'s$", "", match.group(0).strip("'-"))  # a possessive names what its word names
        lower = word.lower()
        if lower == "may" and not word[:1].isupper():  # the verb, not the month
            continue
        if lower in MONTH_NAMES:
            if lower not in times:
                problems.append(f"the month {word} is not in the data")
            continue
        capitalised = word[:1].isupper()
        if not capitalised or lower in words or lower in ENGLISH_STOP_WORDS or lower in PHRASING:
            continue
        problems.append(f"the name {word!r} is not in the data")
    for tag in re.findall(r"\$\s?([A-Za-z]{1,6})\b", text):
        if tag.lower() not in words:
            problems.append(f"the ticker ${tag.upper()} is not in the data")
    stems = {STEM(w) for w in words}
    for word in re.findall(r"[a-z]{4,}", text.lower()):
        if word not in ENGLISH_STOP_WORDS and word not in PHRASING and word not in MONTH_NAMES and STEM(word) not in stems \
                and STEM(re.sub(r"s$", "", word)) not in stems:
            problems.append(f"the word {word!r} is not in the data")
    problems += contradicted_moves(text, sources_text)
    unique = list(dict.fromkeys(problems))
    return CheckResult(not unique, unique)

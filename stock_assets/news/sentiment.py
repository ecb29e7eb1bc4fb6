"""Which scorer gives a headline its sentiment, and the shipped classifier on MiniLM's vectors.

Order: FinBERT's own head when the encoder carries it; else, when the encoder is the one the
shipped classifier was trained on (all-MiniLM-L6-v2, checked by its weights' fingerprint), a
multinomial logistic regression on the headline's vector (the vector news_embeddings stores
anyway, so scoring costs one matrix product); else the Loughran–McDonald dictionary (lexicon.py).

Every label carries its scorer's name and its measured figure on labelled texts it never saw
(`scorer_label`): the classifier's weights and figures are written together by
`python -m stock_assets.news.sentiment_train` (`make sentiment-model`), which trains on
../shared/data/sentiment/sent_train.csv and scores once on sent_valid.csv.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from stock_assets.news.lexicon import LEXICON_SCORER, lexicon_sentiment

CLASSIFIER_FILE = "sentiment_minilm.npz"
MEASURED_FILE = "sentiment_measured.json"
# the data set's labels -> our (positive, negative, neutral) columns
DATASET_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
ORDER = ("positive", "negative", "neutral")


def package_file(name: str) -> Path:
    return Path(str(files("stock_assets.news") / name))


@lru_cache(maxsize=1)
def measured() -> dict:
    """{scorer key: {"accuracy", "macro_f1", "texts", "data"}} as the training command measured them."""
    path = package_file(MEASURED_FILE)
    return json.loads(path.read_text()) if path.is_file() else {}


def figure(key: str) -> str:
    found = measured().get(key)
    if not found:
        return "not measured"
    return f"held-out macro-F1 {found['macro_f1']:.2f}, accuracy {found['accuracy']:.2f} on {found['texts']:,} labelled texts"


@dataclass(frozen=True)
class HeadlineClassifier:
    coef: np.ndarray  # float32 [3, D], rows in ORDER
    intercept: np.ndarray  # float32 [3]
    encoder_fingerprint: str
    name: str

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = np.asarray(vectors, dtype=np.float32) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return (odds / odds.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        temp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(temp, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                            encoder_fingerprint=self.encoder_fingerprint, name=self.name)
        temp.replace(path)


@lru_cache(maxsize=1)
def shipped_classifier() -> HeadlineClassifier | None:
    path = package_file(CLASSIFIER_FILE)
    if not path.is_file():
        return None
    with np.load(path) as data:
        return HeadlineClassifier(data["coef"], data["intercept"], str(data["encoder_fingerprint"]), str(data["name"]))


def scorer_label(key: str) -> str:
    """The scorer's name with its measured figure, as stored beside every label."""
    return f"{key} ({figure(key)})"


def score_headlines(texts: list[str], vectors: np.ndarray, head: np.ndarray | None, encoder_fingerprint: str,
                    encoder_id: str) -> tuple[np.ndarray, str]:
    """(float32 [N, 3] positive/negative/neutral, the scorer's label) by the order above."""
    if head is not None:
        return head, scorer_label(f"finbert head ({encoder_id})")
    classifier = shipped_classifier()
    if classifier is not None and classifier.encoder_fingerprint == encoder_fingerprint:
        if not texts:  # a day without headlines: no vector to reshape
            return np.zeros((0, 3), np.float32), scorer_label(classifier.name)
        return classifier.probabilities(np.asarray(vectors).reshape(len(texts), -1)), scorer_label(classifier.name)
    return lexicon_sentiment(texts), scorer_label(LEXICON_SCORER)

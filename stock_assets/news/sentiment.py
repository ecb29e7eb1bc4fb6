"""Which scorer gives a headline its sentiment, and the shipped classifier on MiniLM's vectors.

Order: FinBERT's own head when the encoder carries it; else, when the encoder is the one the
shipped classifier was trained on (all-MiniLM-L6-v2, checked by its weights' fingerprint), a
multinomial logistic regression on the headline's vector (the vector news_embeddings stores
anyway) and, when training chose them, the headline's word and character n-grams (TF-IDF): no
second pass of the encoder; else the Loughran–McDonald dictionary (lexicon.py).

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


# the n-gram features beside the vector (when the training command chose them): words and
# characters, TF-IDF weighted as scikit-learn's TfidfVectorizer computes them
WORD_NGRAMS = {"ngram_range": (1, 2), "sublinear_tf": True}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True}


def ngram_vectorizers(words=None, word_idf=None, chars=None, char_idf=None):
    """The two TfidfVectorizers, fitted ones rebuilt from their stored vocabularies and IDF weights."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if words is None:
        return TfidfVectorizer(min_df=2, **WORD_NGRAMS), TfidfVectorizer(min_df=2, **CHAR_NGRAMS)
    word = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(words)}, **WORD_NGRAMS)
    char = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(chars)}, **CHAR_NGRAMS)
    word.idf_, char.idf_ = word_idf, char_idf
    return word, char


def features(texts: list[str], vectors: np.ndarray, ngrams=None):
    """The classifier's input: the headline's vector, and its n-gram TF-IDF when `ngrams` is given."""
    from scipy.sparse import csr_matrix, hstack

    vectors = csr_matrix(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))
    if ngrams is None:
        return vectors
    return hstack([vectors, *(v.transform(texts) for v in ngrams)]).tocsr()


@dataclass(frozen=True)
class HeadlineClassifier:
    coef: np.ndarray  # float32 [3, F], rows in ORDER; columns: the vector, then word and char n-grams
    intercept: np.ndarray  # float32 [3]
    encoder_fingerprint: str
    name: str
    ngrams: tuple | None = None  # (word, char) fitted TfidfVectorizers, or None: the vector alone

    def probabilities(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        logits = np.asarray(features(texts, vectors, self.ngrams) @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return (odds / odds.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        extra = {}
        if self.ngrams is not None:
            word, char = self.ngrams
            for key, vectorizer in (("word", word), ("char", char)):
                terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
                extra[f"{key}s"], extra[f"{key}_idf"] = np.array(terms), vectorizer.idf_.astype(np.float32)
        temp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(temp, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                            encoder_fingerprint=self.encoder_fingerprint, name=self.name, **extra)
        temp.replace(path)


@lru_cache(maxsize=1)
def shipped_classifier() -> HeadlineClassifier | None:
    path = package_file(CLASSIFIER_FILE)
    if not path.is_file():
        return None
    with np.load(path) as data:
        ngrams = ngram_vectorizers(data["words"], data["word_idf"], data["chars"], data["char_idf"]) if "words" in data else None
        return HeadlineClassifier(data["coef"], data["intercept"], str(data["encoder_fingerprint"]), str(data["name"]), ngrams)


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
        return classifier.probabilities(texts, vectors), scorer_label(classifier.name)
    return lexicon_sentiment(texts), scorer_label(LEXICON_SCORER)

"""Train the shipped headline sentiment classifier and measure every offline scorer once on held-out texts.

    python -m stock_assets.news.sentiment_train [--data ../shared/data/sentiment]     (make sentiment-model)

Data: the labelled financial news tweets (MIT; sent_train.csv 9,543, sent_valid.csv 2,388). The
classifier is scikit-learn's multinomial logistic regression on all-MiniLM-L6-v2's headline vectors
(the packaged encoder, the same code path news_embeddings uses), alone or with the headline's word
(1-2) and character (2-5) n-grams, TF-IDF weighted. Which of the two, and the regularisation C,
are chosen by 5-fold cross-validated macro-F1 on the training file only; then the held-out file
is scored once, for the classifier and for the Loughran–McDonald dictionary, and the figures are
written beside the weights (sentiment_measured.json). Writes stock_assets/news/sentiment_minilm.npz
(the weights, and the n-gram vocabularies with their IDF weights when chosen).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stock_assets.news.lexicon import LEXICON_SCORER, lexicon_sentiment, sentiment_label
from stock_assets.news.sentiment import (
    CLASSIFIER_FILE, DATASET_LABELS, MEASURED_FILE, ORDER, HeadlineClassifier, features, ngram_vectorizers, package_file)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sentiment"
C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
NGRAM_C_GRID = (4.0, 16.0, 64.0)
CLASSIFIER_NAME = "minilm-logreg"  # the vector alone
NGRAM_NAME = "minilm-ngram-logreg"  # the vector and the headline's word and character n-grams


def load(path: Path) -> tuple[list[str], np.ndarray]:
    table = pd.read_csv(path)
    if not {"text", "label"} <= set(table.columns):
        raise ValueError(f"{path}: expected columns text,label, found {list(table.columns)}")
    labels = table["label"].map(lambda v: ORDER.index(DATASET_LABELS[int(v)]))
    return table["text"].astype(str).tolist(), labels.to_numpy()


def scores(truth: np.ndarray, predicted: np.ndarray, data: str) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": round(float(accuracy_score(truth, predicted)), 4),
            "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4), "texts": int(len(truth)), "data": data}


def fit(texts: list[str], vectors: np.ndarray, labels: np.ndarray, c: float, with_ngrams: bool, name: str,
        fingerprint: str) -> HeadlineClassifier:
    from sklearn.linear_model import LogisticRegression

    ngrams = None
    if with_ngrams:
        ngrams = ngram_vectorizers()
        for vectorizer in ngrams:
            vectorizer.fit(texts)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(features(texts, vectors, ngrams), labels)
    return HeadlineClassifier(model.coef_.astype(np.float32), model.intercept_.astype(np.float32), fingerprint, name, ngrams)


def cross_validated(texts: list[str], vectors: np.ndarray, labels: np.ndarray, c: float, with_ngrams: bool) -> float:
    """Macro-F1 over 5 stratified folds of the training file (n-gram vocabularies fitted inside each fold)."""
    from sklearn.model_selection import StratifiedKFold

    predicted = np.zeros_like(labels)
    for inside, held in StratifiedKFold(5, shuffle=True, random_state=0).split(vectors, labels):
        model = fit([texts[i] for i in inside], vectors[inside], labels[inside], c, with_ngrams, "cv", "")
        predicted[held] = model.probabilities([texts[i] for i in held], vectors[held]).argmax(axis=1)
    return scores(labels, predicted, "cv")["macro_f1"]


def train(data: Path, out_dir: Path) -> dict:
    from stock_assets.news.embedder import MINILM, TextEmbedder

    train_texts, train_y = load(data / "sent_train.csv")
    valid_texts, valid_y = load(data / "sent_valid.csv")
    started = time.monotonic()
    encoder = TextEmbedder(MINILM, precision="fp32")
    train_x = encoder.embed(train_texts).vectors
    print(f"embedded {len(train_texts)} training texts in {time.monotonic() - started:.0f} s ({encoder.model_id})", flush=True)
    chosen, best = None, -1.0
    for with_ngrams, grid in ((False, C_GRID), (True, NGRAM_C_GRID)):  # chosen on the training file only
        for c in grid:
            f1 = cross_validated(train_texts, train_x, train_y, c, with_ngrams)
            print(f"{'vector + n-grams' if with_ngrams else 'vector'}, C={c:g}: 5-fold macro-F1 {f1:.4f}", flush=True)
            if f1 > best:
                chosen, best = (with_ngrams, c), f1
    with_ngrams, c = chosen
    name = NGRAM_NAME if with_ngrams else CLASSIFIER_NAME
    classifier = fit(train_texts, train_x, train_y, c, with_ngrams, name, encoder.fingerprint)
    # the held-out file, scored once
    valid_x = encoder.embed(valid_texts).vectors
    held_out = f"{data.name}/sent_valid.csv"
    figures = {
        name: {**scores(valid_y, classifier.probabilities(valid_texts, valid_x).argmax(axis=1), held_out), "c": c,
               "cv_macro_f1": best},
        LEXICON_SCORER: scores(valid_y, np.array([ORDER.index(sentiment_label(p)) for p in lexicon_sentiment(valid_texts)]),
                               held_out),
        "always neutral": scores(valid_y, np.full(len(valid_y), ORDER.index("neutral")), held_out),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    classifier.save(out_dir / CLASSIFIER_FILE)
    (out_dir / MEASURED_FILE).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with sent_train.csv and sent_valid.csv")
    parser.add_argument("--out", type=Path, default=package_file(CLASSIFIER_FILE).parent, help="where the weights go")
    args = parser.parse_args()
    for name, figure in train(args.data, args.out).items():
        print(f"{name}: held-out accuracy {figure['accuracy']:.3f}, macro-F1 {figure['macro_f1']:.3f} ({figure['texts']} texts)")


if __name__ == "__main__":
    main()

"""A period's headlines grouped into a few distinct stories (the extractive news summary).

Boilerplate out (retrieval.py's rule), then scikit-learn's agglomerative clustering of the
headline vectors (cosine distance, average linkage, cut at STORY_DISTANCE); the largest clusters
are the stories, each told by its dates, size, sentiment balance and its most central headline
(the medoid), never by generated text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering

from stock_serving.news_table import balance, headline_item
from stock_serving.retrieval import is_boilerplate, normalized

STORY_DISTANCE = 0.45  # average cosine distance under which headlines tell the same story
MAX_STORIES = 4
MAX_ITEMS = 1500  # the latest headlines clustered, at most (the clustering is quadratic)


def stories(frame: pd.DataFrame, vectors: np.ndarray, symbols: list[str] | None, k: int = MAX_STORIES) -> list[dict]:
    """Up to k stories, largest first: {first, last, count, balance, representative (item)}."""
    keep = np.array([not is_boilerplate(h, s) for h, s in zip(frame["headline"], frame["symbol"])], dtype=bool)
    frame, vectors = frame[keep].reset_index(drop=True), vectors[keep]
    if frame.empty:
        return []
    frame, vectors = frame.iloc[-MAX_ITEMS:].reset_index(drop=True), vectors[-MAX_ITEMS:]
    # identical texts (retweets, syndication) are one headline told many times: cluster one of each
    keys = [normalized(h) for h in frame["headline"]]
    first_of = {}
    for i, key in enumerate(keys):
        first_of.setdefault(key, i)
    unique = sorted(first_of.values())
    if len(unique) == 1:
        labels_unique = np.zeros(1, dtype=int)
    else:
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=STORY_DISTANCE, metric="cosine", linkage="average")
        safe = vectors[unique] + (np.linalg.norm(vectors[unique], axis=1, keepdims=True) == 0) * 1e-6
        labels_unique = model.fit_predict(safe)
    label_of_key = {keys[i]: int(label) for i, label in zip(unique, labels_unique)}
    labels = np.array([label_of_key[key] for key in keys])
    found = []
    for label in pd.Series(labels).value_counts().index[:k]:
        members = np.flatnonzero(labels == label)
        group = frame.iloc[members]
        centre = vectors[members].mean(axis=0)
        medoid = members[int(np.argmax(vectors[members] @ centre))]
        found.append({"first": group["date"].min(), "last": group["date"].max(), "count": len(members),
                      "balance": balance(group), "representative": headline_item(frame.iloc[medoid])})
    return found

"""Checks of news_embeddings and chroma_collection (blocking: the model trains on these)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

EMBEDDING_CHECKS = {
    "dimension_matches_model": "every vector has the embedding model's dimension",
    "vectors_finite": "no NaN or infinite component",
    "one_vector_per_headline": "exactly one row per raw_news id of the partitions",
}
CHROMA_CHECKS = {
    "chroma_count_matches_lake": "per day, Chroma holds as many records as news_embeddings has rows",
}


def embedding_check_results(frame: pd.DataFrame, vectors: np.ndarray, dim: int, news_ids: pd.Series):
    lengths = frame["embedding"].list.len().to_numpy() if len(frame) else np.zeros(0)
    yield dg.AssetCheckResult(
        check_name="dimension_matches_model",
        passed=bool((lengths == dim).all()),
        metadata={"model_dim": dim, "dims_seen": sorted({int(n) for n in lengths})},
    )
    bad = int((~np.isfinite(vectors)).any(axis=1).sum()) if vectors.size else 0
    yield dg.AssetCheckResult(check_name="vectors_finite", passed=bad == 0, metadata={"rows_not_finite": bad})
    missing = set(news_ids) - set(frame["id"])
    extra = set(frame["id"]) - set(news_ids)
    duplicated = int(frame["id"].duplicated().sum())
    yield dg.AssetCheckResult(
        check_name="one_vector_per_headline",
        passed=not missing and not extra and duplicated == 0,
        metadata={"missing": len(missing), "unexpected": len(extra), "duplicated": duplicated},
    )


def chroma_check_result(expected: dict[str, int], stored: dict[str, int]) -> dg.AssetCheckResult:
    wrong = {day: (expected[day], stored.get(day, 0)) for day in expected if expected[day] != stored.get(day, 0)}
    return dg.AssetCheckResult(
        check_name="chroma_count_matches_lake",
        passed=not wrong,
        metadata={
            "days_checked": len(expected),
            "records": sum(stored.values()),
            "days_wrong": dg.MetadataValue.json({d: {"lake": e, "chroma": s} for d, (e, s) in list(wrong.items())[:10]}),
        },
    )

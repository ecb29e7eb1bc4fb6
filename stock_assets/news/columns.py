"""The news_embeddings frame: column names and the vector column's Arrow type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

EMBEDDING_TYPE = pd.ArrowDtype(pa.list_(pa.float32()))
SENTIMENT_COLUMNS = ["sentiment_positive", "sentiment_negative", "sentiment_neutral"]
EMBEDDING_COLUMNS = ["id", "date", "symbol", "model", "embedding"]


def embedding_series(vectors: np.ndarray, index=None) -> pd.Series:
    """float32 [N, D] -> a list<float32> column (typed even when empty)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, len(vectors) * dim + 1, max(dim, 1))[: len(vectors) + 1], type=pa.int32())
    return pd.Series(pa.ListArray.from_arrays(offsets, flat), dtype=EMBEDDING_TYPE, index=index)


def embedding_matrix(column: pd.Series) -> np.ndarray:
    """The list column back to float32 [N, D] (works for Arrow-backed and object columns)."""
    if len(column) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if isinstance(column.dtype, pd.ArrowDtype):
        array = pa.chunked_array(column.array._pa_array).combine_chunks()
        flat = array.flatten().to_numpy(zero_copy_only=False)
        return flat.astype(np.float32, copy=False).reshape(len(column), -1)
    return np.stack(column.to_numpy()).astype(np.float32, copy=False)

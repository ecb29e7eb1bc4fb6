"""news_embeddings and chroma_collection: headline vectors per day, and the RAG index over them."""

import time

import dagster as dg
import numpy as np
import pandas as pd

from stock_assets.automation import follows_upstream_day
from stock_assets.backfills import CHROMA_POOL, EMBEDDING_POOL, embedding_backfill, embedding_pod
from stock_assets.ingest.checks import check_specs
from stock_assets.metadata import frame_metadata
from stock_assets.news.checks import CHROMA_CHECKS, EMBEDDING_CHECKS, chroma_check_result, embedding_check_results
from stock_assets.news.columns import SENTIMENT_COLUMNS, embedding_matrix, embedding_series
from stock_assets.news.embedder import hash_text
from stock_assets.news.lexicon import sentiment_label
from stock_assets.news.sentiment import score_headlines
from stock_assets.news.resources import ChromaResource, EmbedderResource
from stock_assets.owners import owner_tag
from stock_assets.partitions import daily_partitions_def
from stock_assets.settings import settings
from stock_assets.teams import DATA_ENGINEERING



class ProgressLog:
    """Logs `embedding n/N headlines, r/s, ETA s` at most every `every_s` seconds (and at the end)."""

    def __init__(self, log, every_s: float = 10.0):
        self.log, self.every_s = log, every_s
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        self.log.info(f"embedding {done}/{total} headlines, {rate:.0f}/s, ETA {(total - done) / max(rate, 1e-9):.0f} s")


def embed_with_cache(embedder_resource: EmbedderResource, texts: list[str], progress=None, lease_s: float | None = None,
                     poll_s: float = 2.0):
    """Vectors for `texts`: cached ones reused, the rest embedded once each and cached, a chunk at
    a time: each chunk is claimed first (texts another run is embedding are left to it and read
    from the cache when it is done) and cached as soon as it is embedded, so runs at once never
    embed the same text and a run that dies keeps what it finished. A dead run's claims lapse
    after STOCK_CLAIM_LEASE_SECONDS, far longer than a chunk (EmbedderResource.cache_chunk) takes."""
    lease_s = lease_s or settings().stock_claim_lease_seconds
    embedder = embedder_resource.load()
    cache = embedder_resource.cache()
    hashes = [hash_text(t) for t in texts]
    known = cache.get(embedder.model_id, hashes)
    pending = [h for h in dict.fromkeys(hashes) if h not in known]
    work = ClaimedWork(embedder, cache, embedder_resource.cache_chunk, dict(zip(hashes, texts)), owner_tag(), lease_s)
    started = time.perf_counter()
    try:
        embedded = work.run(pending, known, poll_s, progress)
    except Exception:
        cache.release(embedder.model_id, work.owner)  # a clean failure frees its claims at once, not after the lease
        raise
    seconds = time.perf_counter() - started
    vectors = np.stack([known[h][0] for h in hashes]) if hashes else np.zeros((0, embedder.dim), np.float32)
    sentiment = None
    if embedder.has_sentiment:
        sentiment = np.stack([known[h][1] for h in hashes]) if hashes else np.zeros((0, 3), np.float32)
    return embedder, vectors, sentiment, embedded, seconds


class ClaimedWork:
    """Embeds texts a chunk at a time under claims, so several runs share the work."""

    def __init__(self, embedder, cache, chunk: int, text_of: dict[str, str], owner: str, lease_s: float):
        self.embedder, self.cache, self.chunk, self.text_of = embedder, cache, chunk, text_of
        self.owner, self.lease_s = owner, lease_s

    def run(self, pending: list[str], known: dict, poll_s: float, progress=None) -> int:
        """Fills `known` with the vectors of `pending`; returns how many this run embedded."""
        model, embedded, total = self.embedder.model_id, 0, len(pending)
        while pending:
            elsewhere = []
            for i in range(0, len(pending), self.chunk):
                part = pending[i : i + self.chunk]
                mine = self.cache.claim(model, part, self.owner, self.lease_s)
                claimed = set(mine)
                elsewhere += [h for h in part if h not in claimed]
                if mine:
                    fresh = self.embedder.embed([self.text_of[h] for h in mine])
                    self.cache.put(model, mine, fresh.vectors, fresh.sentiment, owner=self.owner)
                    for j, h in enumerate(mine):
                        known[h] = (fresh.vectors[j], None if fresh.sentiment is None else fresh.sentiment[j])
                    embedded += len(mine)
                    if progress:
                        progress(embedded, total)
            found = self.cache.get(model, elsewhere)  # what the other runs finished meanwhile
            known.update(found)
            pending = [h for h in elsewhere if h not in found]
            if pending:
                time.sleep(poll_s)  # their claims are live: wait for them, or for the lease to lapse
        return embedded


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=daily_partitions_def,
    backfill_policy=embedding_backfill,
    pool=EMBEDDING_POOL,
    op_tags=embedding_pod(),
    group_name="news",
    kinds={"pytorch", "parquet"},
    check_specs=check_specs("news_embeddings", EMBEDDING_CHECKS),
    automation_condition=follows_upstream_day,
)
def news_embeddings(context: dg.AssetExecutionContext, raw_news: pd.DataFrame, embedder: EmbedderResource):
    """One vector per headline (id, date, symbol, model, embedding float32[D]) from FinBERT or the
    configured encoder: mean pooling over the attention mask, and every headline's sentiment
    (sentiment_positive/negative/neutral): FinBERT's probabilities when the model has its head,
    else the shipped classifier's on the packaged MiniLM's vectors, else the Loughran–McDonald
    dictionary's shares; `sentiment_scorer` names which, with its measured held-out figure.

    No headline is embedded twice: identical texts in a run are embedded once, and vectors
    are cached by (model id, text hash), so re-materializing a day embeds nothing.
    """
    raw_news = raw_news if raw_news is not None else pd.DataFrame(columns=["id", "date", "symbol", "headline"])
    texts = raw_news["headline"].astype(str).tolist()
    model, vectors, sentiment, embedded_now, seconds = embed_with_cache(embedder, texts, ProgressLog(context.log))
    frame = pd.DataFrame(
        {
            "id": raw_news["id"].astype("str").to_numpy(),
            "date": pd.to_datetime(raw_news["date"]).astype("datetime64[ns]").to_numpy(),
            "symbol": raw_news["symbol"].astype("str").to_numpy(),
            "model": model.model_id,
        }
    )
    frame["embedding"] = embedding_series(vectors.reshape(len(frame), model.dim))
    # FinBERT's head, else the shipped classifier on MiniLM's vectors, else the finance dictionary
    sentiment, scorer = score_headlines(texts, vectors, sentiment, model.fingerprint, model.model_id)
    for i, column in enumerate(SENTIMENT_COLUMNS):
        frame[column] = sentiment[:, i].astype(np.float32)
    frame["sentiment_scorer"] = scorer
    checks = list(embedding_check_results(frame, vectors, model.dim, raw_news["id"]))
    unique_texts = len(set(texts))
    context.log.info(
        f"{len(frame)} headlines ({unique_texts} distinct): embedded {embedded_now}, reused {unique_texts - embedded_now}"
    )
    yield dg.Output(
        frame,
        metadata={
            **frame_metadata(frame.drop(columns=["embedding"])),
            "embedded_now": embedded_now,
            "reused": unique_texts - embedded_now,
            "headlines_per_s": round(embedded_now / seconds, 1) if embedded_now and seconds > 0 else 0.0,
            "model": model.model_id,
            "dim": model.dim,
            "dtype": "float32",
            "sentiment_scorer": scorer,
        },
    )
    yield from checks


def sentiment_metadata(row) -> dict:
    probs = [getattr(row, c, None) for c in SENTIMENT_COLUMNS]
    if any(p is None or pd.isna(p) for p in probs):
        return {}
    scorer = getattr(row, "sentiment_scorer", None)
    return {"sentiment": sentiment_label(probs), "sentiment_score": float(probs[0] - probs[1]),
            **({"sentiment_scorer": scorer} if isinstance(scorer, str) and scorer else {})}


@dg.asset(
    owners=DATA_ENGINEERING,
    partitions_def=daily_partitions_def,
    backfill_policy=embedding_backfill,
    pool=CHROMA_POOL,
    group_name="news",
    kinds={"chromadb"},
    check_specs=check_specs("chroma_collection", CHROMA_CHECKS),
    automation_condition=follows_upstream_day,
)
def chroma_collection(
    context: dg.AssetExecutionContext,
    news_embeddings: pd.DataFrame,
    raw_news: pd.DataFrame,
    chroma: ChromaResource,
    embedder: EmbedderResource,
):
    """The `stock_news` ChromaDB collection (cosine) that the chatbot retrieves from: id = raw_news
    id, document = headline, the headline's vector, metadata {source, date, symbol, url} plus
    sentiment (label, score = positive - negative, and the scorer that made it). The collection's metadata records the encoder (name and dimension) so the chatbot
    embeds its questions with the same one. Re-materializing days makes the collection hold
    exactly those days' rows: stale ids are deleted, the rest upserted.
    """
    days = list(context.partition_keys)
    merged = news_embeddings.merge(raw_news[["id", "headline", "source", "url"]], on="id", how="left", validate="1:1")
    day_text = pd.to_datetime(merged["date"]).dt.strftime("%Y-%m-%d")
    metadatas = [
        # `day` (int YYYYMMDD) because Chroma range filters ($gte/$lte) only compare numbers
        {"source": row.source or "", "date": day, "day": int(day.replace("-", "")), "symbol": row.symbol,
         "url": row.url or "", **sentiment_metadata(row)}
        for row, day in zip(merged.itertuples(index=False), day_text)
    ]
    store = chroma.store()
    vectors = embedding_matrix(merged["embedding"])
    if len(merged):  # the chatbot embeds its queries with the model recorded here
        store.record_embedder(embedder.model, vectors.shape[1])
    upserted, deleted = store.replace_days(
        days, merged["id"].tolist(), vectors, merged["headline"].astype(str).tolist(), metadatas
    )
    expected = dict.fromkeys(days, 0) | day_text.value_counts().to_dict()
    check = chroma_check_result(expected, store.count_by_day(days))
    context.log.info(f"stock_news: upserted {upserted}, deleted {deleted} over {len(days)} day(s)")
    yield dg.MaterializeResult(
        metadata={
            "upserted": upserted,
            "deleted_stale": deleted,
            "collection_size": store.collection.count(),
            "days": len(days),
        },
        check_results=[check],
    )

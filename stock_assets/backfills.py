"""How a backfill fans out, what may run at once, and which pod runs each heavy step.

Backfill policies by cost: prices are one bulk download per symbol (a single run); news is
fetched in chunks of days; embedding and indexing are split into runs of a few weeks each, so a
long backfill becomes many runs the queue launches N at a time (each its own pod on the cluster).

Concurrency pools (limits are instance settings — `concurrency.pools.default_limit` in
dagster.yaml or the Helm values, per pool with `dagster instance concurrency set POOL N`):
- `finnhub_api`: raw_news runs share one API key's budget (the rate limiter is shared too);
- `embedding`: embedding runs at once (the number of CPU/GPU pods to use);
- `chroma_writes`: writers of the embedded Chroma store (SQLite takes one writer: keep 1); a
  Chroma server takes parallel writers, so the cluster may raise it.

Pod sizes (`dagster-k8s/config` op tags, honoured by the k8s_job_executor that STOCK_EXECUTOR=k8s
selects): from STOCK_EMBED_CPU / STOCK_EMBED_MEMORY / STOCK_EMBED_GPUS for news_embeddings.
"""

from __future__ import annotations

import os

import dagster as dg

FINNHUB_POOL = "finnhub_api"
EMBEDDING_POOL = "embedding"
CHROMA_POOL = "chroma_writes"


def positive_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name}={raw!r} must be a whole number of at least {minimum}")
    return int(raw)


# ~2,500 headlines a day for 500 symbols at ~5 each; 55 headlines/s on one CPU pod (FinBERT,
# int8) makes 20 days ~15 minutes per run.
EMBED_DAYS_PER_RUN = positive_int("STOCK_EMBED_DAYS_PER_RUN", 20)
# One Finnhub request per symbol and chunk: bigger chunks, fewer requests.
NEWS_DAYS_PER_RUN = positive_int("STOCK_NEWS_DAYS_PER_RUN", 30)

prices_backfill = dg.BackfillPolicy.single_run()
news_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=NEWS_DAYS_PER_RUN)
embedding_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=EMBED_DAYS_PER_RUN)


def embedding_pod() -> dict:
    """The news_embeddings step's pod: its CPU/memory, and a GPU in the gpu overlay."""
    resources = {"cpu": os.environ.get("STOCK_EMBED_CPU", "2"), "memory": os.environ.get("STOCK_EMBED_MEMORY", "6Gi")}
    gpus = positive_int("STOCK_EMBED_GPUS", 0, minimum=0)
    limits = {**resources, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {"dagster-k8s/config": {"container_config": {"resources": {"requests": dict(resources), "limits": limits}}}}


def executor(name: str | None = None):
    """STOCK_EXECUTOR: `multiprocess` (default: steps as processes of the run) or `k8s` (each step
    its own pod, sized by its op tags: the embedding step on a GPU node in the gpu overlay)."""
    name = name or os.environ.get("STOCK_EXECUTOR", "multiprocess")
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"STOCK_EXECUTOR={name!r} is not one of multiprocess, k8s")

"""Shared state for several machines, measured against the single-machine default in one run:

1. claims throughput: texts claimed, embedded (zero vectors: the store is measured, not the
   model) and released per second by the embedding cache on PostgreSQL vs SQLite, one worker and
   two workers at once on the same texts;
2. the whole replay universe's news_embeddings (2014-2015, every symbol) backfilled by ONE "node"
   vs TWO "nodes" at once: real run processes with local directories of their own that share only
   PostgreSQL (the cache and its claims) and an S3 object store (the lake; moto's server over HTTP).

Real servers, started here: PostgreSQL 15 (Debian), moto's S3 server.

    .venv/bin/python bench/bench_shared_state.py [--texts 20000] [--embedder minilm] [--skip-backfill]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("STOCK_START_DATE", "2014-01-01")
os.environ.setdefault("STOCK_END_DATE", "2016-01-01")
REPLAY = REPO.parent / "shared" / "data" / "replay"
DIM, CHUNK = 384, 1000


def open_cache(backend: str, where: str):
    from stock_assets.news.cache import EmbeddingCache
    from stock_assets.news.cache_postgres import PostgresEmbeddingCache

    return PostgresEmbeddingCache(where) if backend == "postgres" else EmbeddingCache(where)


def claim_worker(backend: str, where: str, hashes: list[str], out) -> None:
    cache, owner, done = open_cache(backend, where), f"bench-{os.getpid()}-{uuid.uuid4().hex[:6]}", 0
    for i in range(0, len(hashes), CHUNK):
        mine = cache.claim("bench-model", hashes[i : i + CHUNK], owner, 600.0)
        if mine:
            cache.put("bench-model", mine, np.zeros((len(mine), DIM), np.float32), None, owner=owner)
            done += len(mine)
    out.put(done)


def claims_throughput(backend: str, where: str, texts: int, workers: int) -> tuple[float, int]:
    """(texts claimed and released per second, texts cached) for `workers` processes on the same texts."""
    hashes = [uuid.uuid4().hex for _ in range(texts)]
    open_cache(backend, where)  # tables made before the clock starts
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=claim_worker, args=(backend, where, hashes, out)) for _ in range(workers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    done = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return texts / (time.perf_counter() - started), done


def embed_nodes(nodes: int, lake: str, database_url: str, endpoint: str, embedder: str, symbols: list[str], work: Path,
                together: bool = False):
    from tests.cluster.servers import S3_CREDENTIALS
    from tests.drills.conftest import finish_all, start_run

    args = {"lake": lake, "model": embedder, "symbols": symbols, "first": "2014-01-01", "last": "2015-12-31",
            "selection": ["news_embeddings"]}
    started = time.perf_counter()
    procs = []
    barrier = work / "barrier"
    barrier.mkdir(parents=True)
    # together: every node waits at its first claim until all are there (their input read and model
    # loaded), so the embedding itself overlaps whatever the object store's speed for each node
    meeting = f"{barrier}:{nodes}:stock_assets.news.cache_postgres:PostgresEmbeddingCache.claim:1800" if together else None
    for i in range(nodes):
        local = work / f"node{i}"
        (local / "dagster").mkdir(parents=True)
        procs.append(start_run("embed", args, barrier=meeting, STOCK_HOME=lake.rsplit("/lake", 1)[0], STOCK_LOCAL_HOME=local,
                               DAGSTER_HOME=local / "dagster", STOCK_DATABASE_URL=database_url, AWS_ENDPOINT_URL=endpoint,
                               STOCK_EMBEDDER=embedder, **S3_CREDENTIALS))
    runs = finish_all(procs, timeout=7200)
    seconds = time.perf_counter() - started
    failed = [r.stderr for r in runs if r.returncode != 0]
    if failed:
        raise SystemExit(f"a node failed: {failed[0][-2000:]}")
    return seconds, [r.summary["embedded_now"] for r in runs]


def lake_vectors(lake: str):
    import pandas as pd

    from stock_assets.lake import read_parquet
    from stock_assets.settings import as_upath

    files = sorted(as_upath(lake).joinpath("news_embeddings").glob("*.parquet"), key=str)
    frame = pd.concat([read_parquet(f)[["id", "embedding"]] for f in files]).sort_values("id").reset_index(drop=True)
    return frame["id"].tolist(), np.stack(frame["embedding"].to_numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--texts", type=int, default=20000)
    p.add_argument("--embedder", default="minilm")
    p.add_argument("--skip-backfill", action="store_true")
    args = p.parse_args()
    from machine import cpu_flags
    from tests.cluster.servers import S3_CREDENTIALS, make_bucket, postgres_server, s3_server

    print(f"CPU: {os.cpu_count()} cores, {cpu_flags()}")
    work = Path(tempfile.mkdtemp(prefix="bench_shared_"))
    with postgres_server() as postgres:
        print(f"\n1. claims throughput, {args.texts} texts in chunks of {CHUNK} ({DIM}-d vectors cached with each release)")
        print("| store | workers | texts/s | cached |\n|---|---|---|---|")
        for workers in (1, 2):
            for backend in ("sqlite", "postgres"):
                where = (str(work / f"cache-{workers}.sqlite") if backend == "sqlite"
                         else postgres.fresh_database(f"claims_{workers}"))
                rate, done = claims_throughput(backend, where, args.texts, workers)
                print(f"| {backend} | {workers} | {rate:,.0f} | {done} |")
        if args.skip_backfill:
            return
        with s3_server() as endpoint:
            os.environ.update({**S3_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
            make_bucket(endpoint, "bench-lake")
            symbols = sorted(f.stem for f in (REPLAY / "prices").glob("*.csv"))
            ingest_raw_news(endpoint, symbols, work)
            print(f"\n2. news_embeddings of the whole replay universe ({len(symbols)} symbols, 2014-2015, {args.embedder})")
            print("| nodes | wall | texts embedded per node |\n|---|---|---|")
            results = {}
            for name, nodes, together in (("1 node", 1, False), ("2 nodes", 2, False), ("2 nodes, embedding at once", 2, True)):
                prefix = f"run{len(results)}"
                if results:
                    as_fs().copy("bench-lake/run0/lake/raw_news", f"bench-lake/{prefix}/lake/raw_news", recursive=True)
                lake = f"s3://bench-lake/{prefix}/lake"
                seconds, embedded = embed_nodes(nodes, lake, postgres.fresh_database(prefix), endpoint, args.embedder,
                                                symbols, work / prefix, together)
                results[name] = (seconds, embedded, lake_vectors(lake))
                print(f"| {name} | {seconds:.0f} s | {' + '.join(map(str, embedded))} = {sum(embedded)} |")
            ids1, v1 = results["1 node"][2]
            for name, (seconds, embedded, (ids, v)) in results.items():
                same = ids == ids1
                cosine = float(np.min(np.sum(v1 * v, 1) / (np.linalg.norm(v1, axis=1) * np.linalg.norm(v, axis=1)))) if same else float("nan")
                print(f"{name}: same ids as 1 node {same} ({len(ids)} vectors); each text embedded once "
                      f"{sum(embedded) == sum(results['1 node'][1])}; min cosine vs 1 node {cosine:.6f}; "
                      f"wall / 1 node {seconds / results['1 node'][0]:.2f}x")


def as_fs():
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def ingest_raw_news(endpoint: str, symbols: list[str], work: Path) -> None:
    """raw_news of every day into the S3 lake, once (one run over the range)."""
    import dagster as dg

    from stock_assets.ingest.assets import raw_news
    from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource
    from stock_assets.lake import LakeIOManager, LakeResource

    lake = LakeResource(base_url="s3://bench-lake/run0/lake")
    started = time.perf_counter()
    result = dg.materialize([raw_news], resources={
        "lake": lake, "io_manager": LakeIOManager(lake=lake),
        "news_source": NewsSourceResource(source="replay", symbols=symbols, replay_dir=str(REPLAY)),
        "price_source": PriceSourceResource(source="replay", symbols=symbols, replay_dir=str(REPLAY))},
        tags={"dagster/asset_partition_range_start": "2014-01-01", "dagster/asset_partition_range_end": "2015-12-31"})
    assert result.success
    print(f"(raw_news of {len(symbols)} symbols into s3://bench-lake in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

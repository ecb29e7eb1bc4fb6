"""A Dagster run process for the fault drills: runs one real materialization in this process and,
when told to, SIGKILLs itself at a chosen point or waits at a barrier first.

    python -m tests.drills.run_process JOB 'JSON ARGS'

DRILL_KILL="module:Owner.attr:WHEN:N[:MS]" - at the N-th call of that function: `before` it runs,
`after` it returns, or `during` it (MS milliseconds after it starts, from a timer thread). The
process dies as a pod does when its node fails: no finally block, no atexit, nothing flushed.
DRILL_BARRIER="DIR:PARTIES:module:Owner.attr[:SECONDS]" - the first call of that function waits
until PARTIES processes have reached it (each touches DIR/<pid>; at most SECONDS, default 120):
runs that truly overlap.
The last stdout line is a JSON summary of the run.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def resolve(target: str):
    """("module:Owner.attr") -> (owner object, attribute name)."""
    module, path = target.split(":", 1)
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


def wrap(target: str, hook) -> None:
    owner, name = resolve(target)
    original = getattr(owner, name)
    calls = [0]

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls[0] += 1
        return hook(calls[0], original, args, kwargs)

    setattr(owner, name, wrapper)


def install_kill(spec: str) -> None:
    module, attr, when, nth, *delay = spec.split(":")
    nth = int(nth)

    def hook(call, original, args, kwargs):
        if call == nth and when == "before":
            die()
        if call == nth and when == "during":
            threading.Timer(int(delay[0]) / 1000 if delay else 0.0, die).start()
        result = original(*args, **kwargs)
        if call == nth and when == "after":
            die()
        return result

    wrap(f"{module}:{attr}", hook)


def install_barrier(spec: str) -> None:
    folder, parties, module, attr, *timeout = spec.split(":")
    folder, parties, timeout_s = Path(folder), int(parties), float(timeout[0]) if timeout else 120.0

    def hook(call, original, args, kwargs):
        if call == 1:
            (folder / str(os.getpid())).touch()
            deadline = time.monotonic() + timeout_s
            while len(list(folder.iterdir())) < parties:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"barrier {folder}: {parties} processes did not arrive")
                time.sleep(0.01)
        return original(*args, **kwargs)

    wrap(f"{module}:{attr}", hook)


def partition_tags(args: dict) -> dict:
    return {"dagster/asset_partition_range_start": args["first"], "dagster/asset_partition_range_end": args["last"]}


def lake_resources(lake: str, **sources) -> dict:
    """tests.conftest's resources, without letting its import replace this run's STOCK_HOME."""
    kept = {k: os.environ.get(k) for k in ("STOCK_HOME", "DAGSTER_HOME", "STOCK_ENV_FILE")}
    from tests import conftest

    os.environ.update({k: v for k, v in kept.items() if v is not None})
    return conftest.lake_resources(lake, **sources)


def news_resources(args: dict) -> dict:
    from stock_assets.news.resources import ChromaResource, EmbedderResource

    resources = lake_resources(args["lake"], news={"symbols": args["symbols"]}, price={"symbols": args["symbols"]})
    resources["embedder"] = EmbedderResource(model=args["model"], cache_path=args.get("cache"), cache_chunk=args.get("chunk", 1000))
    resources["chroma"] = ChromaResource(**args.get("chroma", {}))
    return resources


def materialized(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [asset]]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()
            if isinstance(v.value, (int, float, str, bool))} if events else {}


def embed(args: dict) -> dict:
    import dagster as dg

    from stock_assets.ingest.assets import raw_news
    from stock_assets.news.assets import news_embeddings

    result = dg.materialize([raw_news, news_embeddings], selection=args.get("selection"), resources=news_resources(args),
                            tags=partition_tags(args))
    return materialized(result, "news_embeddings")


def index(args: dict) -> dict:
    import dagster as dg

    from stock_assets.ingest.assets import raw_news
    from stock_assets.news.assets import chroma_collection, news_embeddings

    result = dg.materialize([raw_news, news_embeddings, chroma_collection], selection=[chroma_collection.key],
                            resources=news_resources(args), tags=partition_tags(args))
    return materialized(result, "chroma_collection")


def publish(args: dict) -> dict:
    import dagster as dg

    from stock_assets.export.assets import onnx_model

    # the same checkpoint each time: publish_unchanged makes every run publish (the drill is about publishing)
    forced = {"ops": {"onnx_model": {"config": {"publish_unchanged": True}}}}
    return materialized(dg.materialize([onnx_model], run_config=forced), "onnx_model")


def prices(args: dict) -> dict:
    import dagster as dg

    from stock_assets.ingest.assets import raw_prices

    resources = lake_resources(args["lake"], price={"symbols": args["symbols"]})
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME: the instance both runs share
        result = dg.materialize([raw_prices], resources=resources, partition_key=args["partition"], instance=instance)
        return {"run_id": result.run_id, **materialized(result, "raw_prices")}


JOBS = {"embed": embed, "index": index, "publish": publish, "prices": prices}

if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    if os.environ.get("DRILL_BARRIER"):
        install_barrier(os.environ["DRILL_BARRIER"])
    if os.environ.get("DRILL_KILL"):
        install_kill(os.environ["DRILL_KILL"])
    print(json.dumps(JOBS[job](args)))

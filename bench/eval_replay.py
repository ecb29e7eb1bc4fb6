"""Evaluation on the real replay data (stocknet prices and tweets, 2014-2015) through the real
Dagster assets: ingest -> embed -> training_windows -> DDP training (2 gloo processes), with the
paper's split (train < 2015-08-01 <= validation < 2015-10-01 <= test). Prints the test-split
figures of the news model, the same network without news, random walk and drift.
    .venv/bin/python bench/eval_replay.py [--embedder minilm] [--epochs 15] [--size small]
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPLAY = REPO.parent / "shared" / "data" / "replay"
SYMBOLS = ["AAPL", "AMZN", "FB", "GOOG", "MSFT"]
os.environ["STOCK_START_DATE"] = "2014-01-01"
os.environ["STOCK_END_DATE"] = "2016-01-01"
os.environ.setdefault("STOCK_HOME", str(REPO / ".stock_home" / "eval_replay"))
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402

from stock_assets.definitions import build_definitions  # noqa: E402
from stock_assets.model.checkpoints import BEST, load_checkpoint  # noqa: E402
from stock_assets.training.assets import checkpoint_root  # noqa: E402
from stock_assets.training.metadata import metrics_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--size", default="small")
    args = parser.parse_args()
    os.environ.update(
        STOCK_PRICE_SOURCE="replay", STOCK_NEWS_SOURCE="replay", STOCK_REPLAY_DIR=str(REPLAY),
        STOCK_SYMBOLS=",".join(SYMBOLS), STOCK_EMBEDDER=args.embedder,
    )
    defs = build_definitions()
    resources = defs.resources
    assets = defs.assets
    by_name = {a.key.to_user_string(): a for a in assets}
    started = time.perf_counter()
    upstream = [by_name[n] for n in ("raw_prices", "raw_news", "news_embeddings")]
    tags = {"dagster/asset_partition_range_start": "2014-01-01", "dagster/asset_partition_range_end": "2015-12-31"}
    assert dg.materialize(upstream, resources=resources, tags=tags).success
    ingest = time.perf_counter() - started
    config = {
        "training_windows": {"config": {"validation_start": "2015-08-01", "test_start": "2015-10-01"}},
        "model_checkpoint": {"config": {"epochs": args.epochs, "size": args.size, "resume": False, "patience": 4, "ablation": True}},
    }
    training = [by_name["training_windows"], by_name["model_checkpoint"]]
    started = time.perf_counter()
    assert dg.materialize([*training, *upstream], selection=training, resources=resources, run_config={"ops": config}).success
    train_seconds = time.perf_counter() - started
    best = load_checkpoint(checkpoint_root() / BEST)
    ablation = load_checkpoint(checkpoint_root() / "price_only" / BEST)
    print(f"embedder {args.embedder}; model {args.size}; ingest+embed {ingest:.0f} s; training (both variants) {train_seconds:.0f} s")
    print(f"test windows: {best['metrics']['windows']['count']}; best epoch {best['epoch']} (news), {ablation['epoch']} (price only)")
    print(metrics_table(best["metrics"], ablation))


if __name__ == "__main__":
    main()

"""Walk-forward evaluation on the real replay data (stocknet prices and tweets; 88 symbols,
prices 2012-09..2017-09, texts 2014-2015), through the real code paths, as production serves:

1. the Dagster assets ingest prices and texts, embed the texts (cached: a re-run embeds
   nothing) and build the training panel (training_windows);
2. for each fold (a quarter; rolling origin) the news network and the price-only network train
   under torchrun (2 gloo processes) with production's splits on a panel that ends where the fold
   starts: test = the last 93 sessions before it, validation = the 63 before those (early stopping,
   shrinkage, interval calibration), training = everything earlier;
3. production's gate (export/gate.py: `choose`, `judge`) picks news, price-only or the random walk
   on the test windows before the fold and decides whether it replaces the served version
   (bench/served_walk_forward.py); the served version's figures on the fold are the served figures;
4. per fold and pooled: served skill vs the random walk with the corrected one-sided DM p, which
   network was served, 80 % coverage and pinball loss vs the historical-volatility band, and each
   network as trained (skill, news vs price-only with p, cross-sectional rank IC and ICIR).

    .venv/bin/python bench/eval_replay.py [--symbols all] [--folds 2015Q1,2015Q2,2015Q3,2015Q4]
        [--embedder minilm] [--size small] [--epochs 8] [--variants news,price] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPLAY = REPO.parent / "shared" / "data" / "replay"
FIRST_DAY, LAST_DAY = "2012-09-01", "2015-12-31"
os.environ["STOCK_START_DATE"] = FIRST_DAY
os.environ["STOCK_END_DATE"] = "2016-01-01"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from homes import bench_home  # noqa: E402

os.environ.setdefault("STOCK_HOME", str(bench_home("eval_replay")))
warnings.filterwarnings("ignore")

from served_walk_forward import decisions_report, fold_keys, fold_splits, recalibrated, record, simulate  # noqa: E402


def prepare(symbols: list[str], embedder: str, ingest: bool = True) -> dict:
    """Ingest, embed (unless `ingest` is False: the stored partitions stay) and build the panel
    through the real assets; returns timings."""
    import dagster as dg

    from stock_assets.definitions import build_definitions

    os.environ.update(STOCK_PRICE_SOURCE="replay", STOCK_NEWS_SOURCE="replay", STOCK_REPLAY_DIR=str(REPLAY),
                      STOCK_SYMBOLS=",".join(symbols), STOCK_EMBEDDER=embedder)
    defs = build_definitions()
    by_name = {a.key.to_user_string(): a for a in defs.assets}
    upstream = [by_name[n] for n in ("raw_prices", "raw_news", "news_embeddings")]
    tags = {"dagster/asset_partition_range_start": FIRST_DAY, "dagster/asset_partition_range_end": LAST_DAY}
    started, embedded_now = time.perf_counter(), 0
    if ingest:
        run = dg.materialize(upstream, resources=defs.resources, tags=tags)
        embed_meta = [e for e in run.get_asset_materialization_events() if e.asset_key.to_user_string() == "news_embeddings"]
        embedded_now = embed_meta[-1].materialization.metadata["embedded_now"].value if embed_meta else None
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    panel = [by_name["training_windows"]]
    assert dg.materialize([*panel, *upstream], selection=panel, resources=defs.resources).success
    return {"ingest_embed_s": ingest_s, "embedded_now": embedded_now, "panel_s": time.perf_counter() - started}


def train_fold(fold: str, variant: str, splits: tuple[str, str, str], args) -> dict:
    from stock_assets.model.checkpoints import BEST, load_checkpoint, variant_folder

    home = Path(os.environ["STOCK_HOME"])
    validation_start, test_start, test_end = splits
    folder = home / "walk_forward" / fold
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "stock_assets.model.train",
        "--panel", str(home / "lake" / "training_windows"), "--checkpoints", str(folder),
        "--validation-start", validation_start, "--test-start", test_start, "--test-end", test_end,
        "--epochs", str(args.epochs), "--patience", str(args.patience), "--size", args.size,
        "--batch-size", str(args.batch_size), "--variant", variant, "--seed", str(args.seed),
    ]
    best = variant_folder(folder, variant) / BEST
    if args.reuse and best.exists():  # training is seeded: the same command gives the same checkpoint
        state = load_checkpoint(best)
        if state.get("splits") == {"validation_start": validation_start, "test_start": test_start, "test_end": test_end}:
            return {"state": state, "seconds": 0.0}
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL if args.quiet else None)
    seconds = time.perf_counter() - started
    return {"state": load_checkpoint(best), "seconds": seconds}


def add_training_arguments(parser: argparse.ArgumentParser, folds: str) -> None:
    """The options train_fold reads (and the folds and embedder), shared by the walk-forward benches."""
    parser.add_argument("--folds", default=folds)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="hide the training logs")
    parser.add_argument("--reuse", action="store_true", help="reuse the panel and the fold checkpoints of an earlier run with the same splits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default="all", help="comma-separated, or 'all' (every prices/*.csv of the replay set)")
    add_training_arguments(parser, folds="2015Q1,2015Q2,2015Q3,2015Q4")
    parser.add_argument("--variants", default="news,price")
    parser.add_argument("--evidence-p", type=float, default=None, help="the gate's evidence level (default: onnx_model's gate_evidence_p)")
    parser.add_argument("--confidence", type=float, default=None,
                        help="refit the shrinkage with this bound offline (choosing the rule on development folds; default: as trained)")
    parser.add_argument("--out", type=Path, default=None, help="write the report (Markdown) here too")
    args = parser.parse_args()
    symbols = sorted(p.stem for p in (REPLAY / "prices").glob("*.csv")) if args.symbols == "all" else args.symbols.split(",")
    home = Path(os.environ["STOCK_HOME"])
    if args.reuse and (home / "lake" / "training_windows" / "CURRENT").exists():
        print("data: the panel of an earlier run (--reuse)", flush=True)
    else:
        timings = prepare(symbols, args.embedder)
        print(f"data: {len(symbols)} symbols; ingest + embed {timings['ingest_embed_s']:.0f} s "
              f"({timings['embedded_now']} texts embedded now); panel {timings['panel_s']:.0f} s", flush=True)

    from stock_assets.export.assets import OnnxConfig
    from stock_assets.export.gate import NEWS, PRICE
    from stock_assets.model.panel import load_panel
    from stock_assets.model.report import fold_report, pooled_report
    from stock_assets.training.windows import TEST_SESSIONS, VALIDATION_SESSIONS

    sessions = load_panel(home / "lake" / "training_windows").sessions.astype("datetime64[D]")
    folds, variants = args.folds.split(","), args.variants.split(",")
    if variants[0] != "news" or not set(variants) <= {"news", "price"}:
        raise SystemExit("--variants must start with news (the gate's candidate); add price for the ablation "
                         "(the sentiment variant is compared by bench/sentiment_ablation.py)")
    challengers: dict[str, dict[str, dict]] = {}
    for fold in folds:
        splits = fold_splits(sessions, fold, folds[-1], VALIDATION_SESSIONS, TEST_SESSIONS)
        challengers[fold] = {}
        for variant in variants:
            run = train_fold(fold, variant, splits, args)
            challengers[fold][variant] = run["state"] if args.confidence is None else recalibrated(run["state"], args.confidence)
            print(f"{fold} {variant}: splits {splits}, {run['seconds']:.0f} s, best epoch {run['state']['epoch']}, "
                  f"alpha {run['state']['calibration']['shrinkage']}", flush=True)
    defaults = OnnxConfig()
    evidence = defaults.gate_evidence_p if args.evidence_p is None else args.evidence_p
    served, decisions = simulate(challengers, sessions, defaults.gate_windows, evidence)
    for row in decisions:
        print(f"{row['fold']}: {row['decision']}; served: {row['served']}", flush=True)
    trained = {fold: {v: record(runs, NEWS if v == "news" else PRICE, fold_keys(runs["news"], sessions, fold)) for v in runs}
               for fold, runs in challengers.items()}
    report = "\n\n".join([
        f"Protocol: the served model (production's gate, evidence level p < {evidence:g}, up to {defaults.gate_windows} gate windows"
        f"{'' if args.confidence is None else f'; shrinkage refitted offline at a {args.confidence:g} bound'}); "
        f"splits by sessions from each fold's start (validation {VALIDATION_SESSIONS}, test {TEST_SESSIONS}).",
        decisions_report(decisions),
        f"Command: `.venv/bin/python bench/eval_replay.py {' '.join(sys.argv[1:])}`; {len(symbols)} symbols, embedder "
        f"{args.embedder}, model size {args.size}, up to {args.epochs} epochs (patience {args.patience}), 2-process DDP.",
        fold_report(served, trained),
        pooled_report({f: {"news": r} for f, r in served.items()}, title="Served, pooled over the folds"),
        pooled_report(trained, title="Each network as trained, pooled over the folds"),
    ])
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
        args.out.with_suffix(".json").write_text(json.dumps({"decisions": decisions, "served": {f: r["metrics"] for f, r in served.items()},
                                                             "trained": {f: {v: r["metrics"] for v, r in runs.items()} for f, runs in trained.items()}},
                                                            indent=1, default=str))


if __name__ == "__main__":
    main()

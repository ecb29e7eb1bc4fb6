"""Walk-forward evaluation on the real replay data (stocknet prices and tweets; 88 symbols,
prices 2012-09..2017-09, texts 2014-2015), through the real code paths:

1. the Dagster assets ingest prices and texts, embed the texts (cached: a re-run embeds
   nothing) and build the training panel (training_windows);
2. for each fold (rolling origin; default: the four quarters of 2015) the training entry point
   runs under torchrun (2 gloo processes) with the fold's dates: train < validation (the
   quarter before the fold) < test (the fold); each model sees only data before its fold.
   The news model and the same network without news (the ablation) train on the same windows;
3. the figures per fold and pooled: MAE/RMSE of 5-day log-returns, skill vs the random walk,
   direction vs always-up, Diebold-Mariano tests (model vs random walk; news vs price only),
   80 % interval coverage and pinball loss vs the historical-volatility band.

With --served, the figures are those of the model production would have served in each fold:
each challenger trains with validation two quarters before its fold and a test split from the
quarter before it, and the champion/challenger gate (export/gate.py, production's tolerance and
window count) decides on that quarter whether it replaces the served version
(bench/served_walk_forward.py).

    .venv/bin/python bench/eval_replay.py [--symbols all] [--folds 2015Q1,2015Q2,2015Q3,2015Q4]
        [--embedder minilm] [--size small] [--epochs 8] [--variants news,price] [--served]
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
os.environ.setdefault("STOCK_HOME", str(REPO / ".stock_home" / "eval_replay"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
warnings.filterwarnings("ignore")

from served_walk_forward import decisions_report, quarter_start, served_split, simulate  # noqa: E402


def quarter(name: str) -> tuple[str, str, str]:
    """'2015Q2' -> (validation start, test start, test end): the quarter before, the quarter, the next."""
    return quarter_start(name, -1), quarter_start(name), quarter_start(name, 1)


def prepare(symbols: list[str], embedder: str) -> dict:
    """Ingest, embed and build the panel through the real assets; returns timings."""
    import dagster as dg

    from stock_assets.definitions import build_definitions

    os.environ.update(STOCK_PRICE_SOURCE="replay", STOCK_NEWS_SOURCE="replay", STOCK_REPLAY_DIR=str(REPLAY),
                      STOCK_SYMBOLS=",".join(symbols), STOCK_EMBEDDER=embedder)
    defs = build_definitions()
    by_name = {a.key.to_user_string(): a for a in defs.assets}
    upstream = [by_name[n] for n in ("raw_prices", "raw_news", "news_embeddings")]
    tags = {"dagster/asset_partition_range_start": FIRST_DAY, "dagster/asset_partition_range_end": LAST_DAY}
    started = time.perf_counter()
    ingest = dg.materialize(upstream, resources=defs.resources, tags=tags)
    embed_meta = [e for e in ingest.get_asset_materialization_events() if e.asset_key.to_user_string() == "news_embeddings"]
    embedded_now = embed_meta[-1].materialization.metadata["embedded_now"].value if embed_meta else None
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    panel = [by_name["training_windows"]]
    assert dg.materialize([*panel, *upstream], selection=panel, resources=defs.resources).success
    return {"ingest_embed_s": ingest_s, "embedded_now": embedded_now, "panel_s": time.perf_counter() - started}


def train_fold(fold: str, variant: str, args) -> dict:
    from stock_assets.model.checkpoints import BEST, load_checkpoint

    home = Path(os.environ["STOCK_HOME"])
    if args.served:
        validation_start, test_start, test_end = served_split(fold, args.folds.split(",")[-1])
        folder = home / "walk_forward_served" / fold
    else:
        validation_start, test_start, test_end = quarter(fold)
        folder = home / "walk_forward" / fold
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "stock_assets.model.train",
        "--panel", str(home / "lake" / "training_windows"), "--checkpoints", str(folder),
        "--validation-start", validation_start, "--test-start", test_start, "--test-end", test_end,
        "--epochs", str(args.epochs), "--patience", str(args.patience), "--size", args.size,
        "--batch-size", str(args.batch_size), "--variant", variant, "--seed", str(args.seed),
    ]
    best = (folder if variant == "news" else folder / "price_only") / BEST
    if args.reuse and best.exists():  # training is seeded: the same command gives the same checkpoint
        state = load_checkpoint(best)
        if state.get("splits") == {"validation_start": validation_start, "test_start": test_start, "test_end": test_end}:
            return {"state": state, "seconds": 0.0}
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL if args.quiet else None)
    seconds = time.perf_counter() - started
    return {"state": load_checkpoint(best), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default="all", help="comma-separated, or 'all' (every prices/*.csv of the replay set)")
    parser.add_argument("--folds", default="2015Q1,2015Q2,2015Q3,2015Q4")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--variants", default="news,price")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="hide the training logs")
    parser.add_argument("--served", action="store_true", help="report what the champion/challenger gate would have served")
    parser.add_argument("--evidence-p", type=float, default=None,
                        help="the gate's evidence level (default: onnx_model's gate_evidence_p; 1 turns the rule off)")
    parser.add_argument("--reuse", action="store_true", help="reuse the panel and the fold checkpoints of an earlier run with the same splits")
    parser.add_argument("--out", type=Path, default=None, help="write the report (Markdown) here too")
    args = parser.parse_args()
    symbols = sorted(p.stem for p in (REPLAY / "prices").glob("*.csv")) if args.symbols == "all" else args.symbols.split(",")
    if args.reuse and (Path(os.environ["STOCK_HOME"]) / "lake" / "training_windows" / "CURRENT").exists():
        print("data: the panel of an earlier run (--reuse)", flush=True)
    else:
        timings = prepare(symbols, args.embedder)
        print(f"data: {len(symbols)} symbols; ingest + embed {timings['ingest_embed_s']:.0f} s "
              f"({timings['embedded_now']} texts embedded now); panel {timings['panel_s']:.0f} s", flush=True)

    from stock_assets.model.report import fold_report, pooled_report

    results: dict[str, dict[str, dict]] = {}
    for fold in args.folds.split(","):
        results[fold] = {}
        for variant in args.variants.split(","):
            run = train_fold(fold, variant, args)
            results[fold][variant] = run
            metrics = run["state"]["metrics"]["model"]
            print(f"{fold} {variant}: {run['seconds']:.0f} s, best epoch {run['state']['epoch']}, skill {metrics['skill']:+.4f}, "
                  f"alpha {run['state']['calibration']['shrinkage']}", flush=True)
    protocol = "each model as trained"
    if args.served:
        results, decisions, evidence = gate_results(results, args)
        protocol = f"the served model (champion/challenger gate, evidence level p < {evidence:g})"
    report = "\n\n".join([
        f"Protocol: {protocol}.",
        *([decisions_report(decisions)] if args.served else []),
        f"Command: `.venv/bin/python bench/eval_replay.py {' '.join(sys.argv[1:])}`; {len(symbols)} symbols, embedder "
        f"{args.embedder}, model size {args.size}, up to {args.epochs} epochs (patience {args.patience}), 2-process DDP.",
        fold_report(results, primary=args.variants.split(",")[0]),
        pooled_report(results, primary=args.variants.split(",")[0]),
    ])
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
        (args.out.with_suffix(".json")).write_text(json.dumps(
            {f: {v: r["state"]["metrics"] for v, r in runs.items()} for f, runs in results.items()}, indent=1, default=float))


def gate_results(results: dict, args) -> tuple[dict, dict, float]:
    """Each variant's challengers through the production gate -> (served results, decisions, evidence level)."""
    from stock_assets.export.assets import OnnxConfig
    from stock_assets.model.panel import load_panel

    sessions = load_panel(Path(os.environ["STOCK_HOME"]) / "lake" / "training_windows").sessions.astype("datetime64[D]")
    defaults = OnnxConfig()
    evidence = defaults.gate_evidence_p if args.evidence_p is None else args.evidence_p
    served: dict = {fold: {} for fold in results}
    decisions = {}
    for variant in args.variants.split(","):
        challengers = {fold: runs[variant]["state"] for fold, runs in results.items()}
        by_fold, decisions[variant] = simulate(challengers, sessions, defaults.gate_tolerance, defaults.gate_windows, evidence)
        for fold, state in by_fold.items():
            served[fold][variant] = {"state": state}
    for row in (r for rows in decisions.values() for r in rows):
        print(f"{row['fold']}: {row['decision']}; served: {row['served']}", flush=True)
    return served, decisions, evidence


if __name__ == "__main__":
    main()

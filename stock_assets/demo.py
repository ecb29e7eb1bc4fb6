"""`make demo`: the whole platform end to end, offline by default, step by step.

ingest -> embed -> Chroma -> training windows -> DDP training (2 gloo processes) -> ONNX ->
local Triton (deployed by the same code as the sensor's job) -> one forecast and one chatbot
answer with sources -> a summary. Every step is a real Dagster materialization recorded in
STOCK_HOME/dagster, so `make dev` shows the history afterwards. A second run is incremental:
nothing is embedded twice and training resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from stock_assets.console_log import log_to_file, say, step
from stock_assets.launch_serving import ask, triton_server

REPO = Path(__file__).resolve().parents[1]


def choose_embedder() -> str:
    """FinBERT when it is in the HF cache, else the packaged offline MiniLM."""
    if os.environ.get("STOCK_EMBEDDER"):
        return os.environ["STOCK_EMBEDDER"]
    from transformers import AutoConfig

    from stock_assets.settings import local_home

    home = local_home()
    try:
        AutoConfig.from_pretrained("ProsusAI/finbert", cache_dir=home / "huggingface", local_files_only=True)
        return "ProsusAI/finbert"
    except OSError:
        return "minilm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default=os.environ.get("DEMO_START", "2014-07-01"))
    parser.add_argument("--end", default=os.environ.get("DEMO_END", "2015-12-31"))
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("DEMO_EPOCHS", "3")))
    parser.add_argument("--size", default=os.environ.get("DEMO_MODEL_SIZE", "small"))
    parser.add_argument("--replay-sessions", type=int, default=int(os.environ.get("DEMO_REPLAY_SESSIONS", "20")),
                        help="the last sessions up to --end are replayed day by day after the first training")
    args = parser.parse_args()
    from stock_assets.settings import apply_exports

    home = apply_exports()  # STOCK_HOME made absolute, DAGSTER_HOME beside it; logs, the local Triton and the HF cache need a file system
    with log_to_file(home, "demo") as log:
        demo(args, home)
    say(f"Full log:    {log}")


def demo(args, home: Path) -> None:
    os.environ["STOCK_EMBEDDER"] = choose_embedder()
    started = time.perf_counter()
    say(f"STOCK_HOME={os.environ['STOCK_HOME']}  prices={os.environ.get('STOCK_PRICE_SOURCE')}  news={os.environ.get('STOCK_NEWS_SOURCE')}  "
        f"symbols={os.environ.get('STOCK_SYMBOLS')}  embedder={os.environ['STOCK_EMBEDDER']}  days {args.start}..{args.end}"
        f" (replayed day by day after the first {args.replay_sessions and 'training'}: the last {args.replay_sessions} sessions)")

    import dagster as dg

    from stock_assets.definitions import build_definitions

    from stock_assets.replay_days import cutoff_before

    # trained and deployed up to the cutoff; the sessions after it are replayed day by day
    cutoff = cutoff_before(args.end, args.replay_sessions)
    defs = build_definitions()
    assets = {a.key.to_user_string(): a for a in defs.assets}
    resources = dict(defs.resources)
    instance = dg.DagsterInstance.get()
    tags = {"dagster/asset_partition_range_start": args.start, "dagster/asset_partition_range_end": cutoff}

    # Dagster's console logger writes to stderr, which is the log file; every event is also in
    # the instance's event log (STOCK_HOME/dagster), which `make dev` shows.
    console = {"loggers": {"console": {"config": {"log_level": os.environ.get("DEMO_LOG_LEVEL", "DEBUG")}}}}

    def run(names: list[str], selection: list[str] | None = None, run_config=None, **kwargs):
        chosen = [assets[n] for n in names]
        result = dg.materialize(chosen, selection=[assets[n] for n in (selection or names)], resources=resources,
                                instance=instance, raise_on_error=False, run_config={**(run_config or {}), **console}, **kwargs)
        if not result.success:
            failure = result.get_step_failure_events()
            raise SystemExit(f"demo step failed: {failure[0].step_failure_data.error.message if failure else 'see the event log'}")
        return result

    def meta(result, asset: str) -> dict:
        events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
        return {k: v.value for k, v in events[-1].materialization.metadata.items()} if events else {}

    with step("1/8 ingest prices and news (one single-run backfill)"):
        ingest = run(["raw_prices", "raw_news"], tags=tags)
        say(f"    {meta(ingest, 'raw_prices').get('dagster/row_count')} price rows, {meta(ingest, 'raw_news').get('dagster/row_count')} headlines")
    with step("2/8 embed headlines and index them in ChromaDB"):
        embedded = run(["raw_prices", "raw_news", "news_embeddings", "chroma_collection"], ["news_embeddings", "chroma_collection"], tags=tags)
        m = meta(embedded, "news_embeddings")
        say(f"    embedded {m.get('embedded_now')} new, reused {m.get('reused')} cached; model {m.get('model')}")
    upstream = ["raw_prices", "raw_news", "news_embeddings"]
    with step("3/8 build the training panel"):
        panel = meta(run(["training_windows", *upstream], ["training_windows"]), "training_windows")
        say(f"    {panel.get('sessions')} sessions x {panel.get('symbols')}; windows train/val/test "
            f"{panel.get('windows_train')}/{panel.get('windows_validation')}/{panel.get('windows_test')}")
    with step(f"4/8 train with DDP (torchrun, 2 gloo processes), {args.epochs} epochs, resuming if possible"):
        config = {"ops": {"model_checkpoint": {"config": {"epochs": args.epochs, "size": args.size, "ablation": True}}}}
        trained = meta(run(["model_checkpoint", "training_windows", *upstream], ["model_checkpoint"], run_config=config), "model_checkpoint")
        say(f"    epochs so far {trained.get('trained_epochs')}, watermark {trained.get('watermark')}")
    with step("5/8 export to ONNX; the gate serves news, price-only or the random walk, published when it changed"):
        # a challenger significantly worse than the served version is kept out (its check warns), and
        # one that serves the same forecasts is not published again: the served version stays
        exported = meta(run(["onnx_model", "model_checkpoint", "training_windows", *upstream], ["onnx_model"]), "onnx_model")
        say(f"    {exported.get('decision')}; parity error {exported.get('max_abs_error_relative'):.2e}")
        if int(exported.get("served_version", -1)) < 1:
            raise SystemExit("demo step failed: no model version has been published")
    with step("6/8 serve it with the local Triton (the deploy sensor's job)"), triton_server(home) as url:
        from stock_assets.deploy.resources import TritonDeployer
        from stock_assets.deploy.sensors import deploy_triton_job

        served = int(exported["served_version"])
        deployer = TritonDeployer(url=url, local_repository=str(home / "triton_local" / "repository"))
        deployed = deploy_triton_job.execute_in_process(run_config={"ops": {"deploy_model_to_triton": {"config": {"version": served}}}},
                                                        instance=instance, resources={"triton": deployer})
        say(f"    Triton at {url} serves stock_predictor v{served} (forecasts from {deployed.output_for_node('deploy_model_to_triton')['served_from']})")
        board = ""
        if args.replay_sessions:
            with step(f"7/8 replay {args.replay_sessions} sessions day by day: ingest, embed, forecast, score, recalibrate, retrain at the end"):
                from stock_assets.replay_days import run_replay

                board = run_replay(url, args.replay_sessions, args.replay_sessions, args.epochs, args.size, say,
                                   first_day=(date.fromisoformat(cutoff) + timedelta(days=1)).isoformat())
        with step("8/8 ask for a forecast and a chatbot answer"):
            answer = ask(url)
    from stock_assets.settings_file import CARRIED, write_demo_settings

    settings, written = write_demo_settings({key: os.environ.get(key, "") for key in CARRIED})
    say(f"    settings {'written to' if written else 'kept (your own file)'}: {settings.resolve()}")
    say(board)
    say(summary(home, trained, exported, answer, time.perf_counter() - started))


def summary(home: Path, trained: dict, exported: dict, answer: dict, seconds: float) -> str:
    from stock_assets.export.gate import RANDOM_WALK
    from stock_assets.export.assets import model_repository
    from stock_assets.export.triton_repository import properties_of
    from stock_assets.model.checkpoints import BEST, load_checkpoint, variant_folder
    from stock_assets.model.report import metrics_table
    from stock_assets.settings import stock_home
    from stock_assets.training.assets import checkpoint_root

    best = load_checkpoint(checkpoint_root() / BEST)
    ablation_path = variant_folder(checkpoint_root(), "price") / BEST
    ablation = load_checkpoint(ablation_path) if ablation_path.exists() else None
    served_version = int(exported.get("served_version", -1))
    # what the served version's ONNX file records: a kept champion may be another network than this run's challenger
    served_network = properties_of(model_repository(), served_version).get("served_network", "unknown")
    shrinkage = ", ".join(f"{a:.2f}" for a in (best.get("calibration") or {}).get("shrinkage", []))
    if served_network == RANDOM_WALK:  # the networks' figures describe models that are not served
        evaluation = ("Evaluation on the test split of the networks as trained, NOT served (the gate serves the random walk: "
                      "the last close, with an interval refitted for it)")
    else:
        evaluation = (f"Evaluation on the test split of the networks as trained (the {served_network} is served; "
                      f"5-day log-returns; news network shrinkage {shrinkage})")
    return f"""
==> Summary ({seconds / 60:.1f} min)
Data:        {stock_home()}/lake (raw_prices, raw_news, news_embeddings, training_windows), {home}/chromadb
Model:       {checkpoint_root()} (epoch {best['epoch']}, watermark {best['watermark']}); served as stock_predictor v{exported.get('served_version')}
Gate:        {exported.get('decision')}
Served:      {served_network} (the gate's figures are selection figures, on the windows that decided)
{evaluation}:
{metrics_table(best.get('metrics') or {}, (ablation or {}).get('metrics'))}
Live record: {answer['forecast'].get('track_record', {}).get('sentence', 'not available')}
Forecast:    {answer['symbol']} -> {answer['forecast']['forecast'][-1]['date']} {answer['forecast']['forecast'][-1]['close']:.2f}; answer cites {len(answer['sources'])} headlines (LLM: {answer['llm'] or 'none'})
Next:        make dev (Dagster UI, http://127.0.0.1:3000) | make serve (Triton + chatbot UI, http://127.0.0.1:8501)
             run `make demo` again: it is incremental (no re-embedding, training resumes)
             a quarter of operation: make demo DEMO_END=2015-09-30 DEMO_REPLAY_SESSIONS=0 && make replay-days SESSIONS=63
DEMO OK"""


if __name__ == "__main__":
    sys.exit(main())

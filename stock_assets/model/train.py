"""Training entry point: `torchrun --nproc-per-node N -m stock_assets.model.train ...`.

DDP (gloo on CPU, nccl on GPU), DistributedSampler, AdamW with ReduceLROnPlateau, early stopping
on validation loss, seeded. Loss: MAE of 5-day log-returns + pinball loss of the 10/90 %
quantiles. Rank 0 alone writes checkpoint_latest.pt after every epoch and checkpoint_best.pt on
improvement (atomically); at the end it fits the shrinkage and the interval calibration of the
best weights on validation, evaluates them on the test split against the baselines, and, when
launched by Dagster, reports through dagster-pipes. It also runs standalone.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import time
from pathlib import Path

# The launcher's PID, read before the slow imports below: compared with the parent after
# PR_SET_PDEATHSIG to see whether the launcher died in between. Not "parent is PID 1": in a pod
# torchrun itself is PID 1.
LAUNCHER_PID = os.getppid()

import numpy as np  # noqa: E402
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from stock_assets.model.checkpoints import BEST, LATEST, VARIANT_FOLDERS, load_checkpoint, save_checkpoint, variant_folder, weights_finite
from stock_assets.model.fit import (
    RawOutputs, calibrate, collect, evaluation, served, train_drift, training_loss, validation_loss)
from stock_assets.model.network import SIZES, ModelConfig, StockPredictor, build_model
from stock_assets.model.resume import fitted_until, resume_refusal
from stock_assets.model.storage import storage_path
from stock_assets.settings import stock_home
from stock_assets.model.panel import WindowDataset, data_identity, load_panel, no_windows_message, resplit


def parse_args(argv=None) -> argparse.Namespace:
    home = stock_home()  # a path or an object-store URL
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--panel", type=storage_path, default=home / "lake" / "training_windows")
    p.add_argument("--checkpoints", type=storage_path, default=home / "checkpoints")
    p.add_argument("--epochs", type=int, default=10, help="epochs to run in this invocation")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--patience", type=int, default=3, help="epochs without validation improvement before stopping")
    p.add_argument("--size", choices=sorted(SIZES), default="base")
    p.add_argument("--variant", choices=sorted(VARIANT_FOLDERS), default="news",
                   help="price: the ablation without news; sentiment: the price network plus the headlines' daily tone (an experiment)")
    p.add_argument("--resume", action="store_true", help="continue from checkpoint_latest.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-start", help="re-split the panel's windows: validation from this date (walk-forward)")
    p.add_argument("--test-start", help="re-split: test from this date")
    p.add_argument("--test-end", help="re-split: no window ends on or after this date")
    return p.parse_args(argv)


def pipes_session(rank: int):
    if rank == 0 and os.environ.get("DAGSTER_PIPES_CONTEXT"):
        from dagster_pipes import open_dagster_pipes

        return open_dagster_pipes()
    return contextlib.nullcontext(None)


def die_with_launcher() -> None:
    """torchrun starts each worker in a session of its own: if the launcher is SIGKILLed, the
    workers would train on as orphans and race the next run's checkpoints. Tie them to it."""
    if "LOCAL_RANK" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != LAUNCHER_PID:  # the launcher died before the line above
        print(f"worker {os.environ['LOCAL_RANK']}: its launcher (pid {LAUNCHER_PID}) is gone, exiting", file=sys.stderr, flush=True)
        os._exit(1)


def main(argv=None) -> None:
    die_with_launcher()
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    with pipes_session(rank) as pipes:
        try:
            run(args, rank, world, pipes)
        finally:
            if world > 1:
                dist.destroy_process_group()


def run(args, rank: int, world: int, pipes) -> None:
    def log(message: str) -> None:
        if rank == 0:
            print(message, flush=True)
            if pipes is not None:
                pipes.log.info(message)

    panel = load_panel(args.panel)
    if args.test_start:
        panel = resplit(panel, args.validation_start or panel.meta["validation_start"], args.test_start, args.test_end)
    sentiment = args.variant == "sentiment"
    train_set, val_set, test_set = (WindowDataset(panel, s, sentiment) for s in ("train", "validation", "test"))
    if not len(train_set):
        raise SystemExit(f"{args.panel}: {no_windows_message(panel)}")
    folder = variant_folder(args.checkpoints, args.variant)
    model = build_model(args.size, panel.news_dim, use_news=args.variant == "news", sentiment=sentiment)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    start_epoch, best, bad_epochs, history, resumed_from = 0, math.inf, 0, [], None
    identity = data_identity(panel)
    epochs = args.epochs
    if args.resume and (folder / LATEST).exists():
        state = load_checkpoint(folder / LATEST)
        refusal = resume_refusal(state, model, panel)
        if refusal:
            start = f"from scratch: {folder / LATEST} is not resumed because {refusal}"
        else:
            model.load_state_dict(state["model_state"])
            optimizer.load_state_dict(state["optimizer_state"])
            scheduler.load_state_dict(state["scheduler_state"])
            start_epoch, history, resumed_from = state["epoch"] + 1, state["history"], state
            # New data means a new validation set: old best losses are not comparable.
            same_data = state.get("data") == identity
            best, bad_epochs = (state["best_val_loss"], state["bad_epochs"]) if same_data else (math.inf, 0)
            start = f"resumed from epoch {state['epoch']} (data {state['watermark']} -> {panel.watermark})"
            if same_data and state.get("completed"):
                # Re-materializing on unchanged data changes nothing (and publishes nothing new).
                epochs = 0
                start = f"resumed from epoch {state['epoch']}: already trained on this data, no epoch run (resume: false retrains)"
    elif not args.resume:
        start = "from scratch (resume: false)"
    else:
        start = "from scratch (no checkpoint yet)"
    log(start)
    raw = RawOutputs(model)
    ddp = DistributedDataParallel(raw) if world > 1 else raw
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=False)
    samples, seconds = 0, 0.0
    drift = train_drift(panel)
    fitted = fitted_until(resumed_from, panel)
    for epoch in range(start_epoch, start_epoch + epochs):
        sampler.set_epoch(epoch)
        ddp.train()
        started, total, count = time.perf_counter(), 0.0, 0
        for price, news, target in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = training_loss(ddp(price, news), target, drift)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
            optimizer.step()
            total, count = total + loss.item() * len(target), count + len(target)
        sums = torch.tensor([total, float(count)], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(sums)
        seconds += time.perf_counter() - started
        samples += int(sums[1])
        train_loss = float(sums[0] / sums[1])
        val_loss = validation_loss(model, val_set, drift)
        monitored = val_loss if math.isfinite(val_loss) else train_loss
        scheduler.step(monitored)
        improved = monitored < best - 1e-12
        best, bad_epochs = (monitored, 0) if improved else (best, bad_epochs + 1)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": optimizer.param_groups[0]["lr"]})
        stop = torch.tensor([bad_epochs >= args.patience], dtype=torch.int32)
        if world > 1:
            dist.broadcast(stop, src=0)
        if rank == 0:
            state = {
                "model_config": model.config.to_dict(),
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "scheduler_state": scheduler.state_dict(),
                "epoch": epoch,
                "best_val_loss": best,
                "bad_epochs": bad_epochs,
                "history": history,
                "watermark": panel.watermark,
                "splits": {k: panel.meta.get(k) for k in ("validation_start", "test_start", "test_end")},
                "data": identity,
                "fitted": fitted,
                "completed": bool(stop.item()) or epoch == start_epoch + epochs - 1,
                "start": start,
                "variant": args.variant,
                "size": args.size,
            }
            save_checkpoint(state, folder / LATEST)
            if improved or not (folder / BEST).exists():
                save_checkpoint(state, folder / BEST)
        model_name = {"news": "news model", "price": "price-only model", "sentiment": "price + sentiment model"}[args.variant]
        log(f"{model_name} epoch {epoch}: train {train_loss:.5f} validation {val_loss:.5f}{' *' if improved else ''}")
        if stop.item():
            log(f"early stop: no validation improvement in {args.patience} epochs")
            break
    identical = ranks_agree(model, world)
    if rank == 0:
        finish(args, panel, folder, (val_set, test_set), samples / seconds if seconds else 0.0, identical, pipes, log, start)


def ranks_agree(model: StockPredictor, world: int) -> bool:
    """DDP keeps replicas in sync; verify it: every rank's weight checksum must be equal."""
    checksum = torch.tensor([float(sum(t.double().sum() for t in model.state_dict().values()))], dtype=torch.float64)
    if world == 1:
        return True
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def finish(args, panel, folder: Path, splits, samples_per_s: float, identical: bool, pipes, log, start: str) -> None:
    """Calibrate the best weights on validation, evaluate them on the test split, and record
    calibration, figures and the test predictions in both checkpoints."""
    val_set, test_set = splits
    best = load_checkpoint(folder / BEST)
    model = StockPredictor(ModelConfig(**best["model_config"]))
    model.load_state_dict(best["model_state"])
    calibration, validation = calibrate(model, val_set)
    test = collect(model, test_set)
    drift = train_drift(panel)
    point, quantiles = served(model, test)
    summary = {
        "model_state": model.state_dict(),
        # the served weights saw their own training days and, through early stopping and this
        # calibration, the current validation period
        "fitted": fitted_until(best, panel),
        "start": start,
        "splits": {k: panel.meta.get(k) for k in ("validation_start", "test_start", "test_end")},
        "calibration": calibration,
        "train_drift": drift,
        "metrics": evaluation(model, test, drift),
        "validation_metrics": evaluation(model, validation, drift),
        "test_predictions": {"point": point.astype(np.float32), "quantiles": quantiles.astype(np.float32), "raw_mean": test["mean"].astype(np.float32),
                             "raw_lower": test["lower"].astype(np.float32), "raw_upper": test["upper"].astype(np.float32),
                             "actual": test["actual"].astype(np.float32), "sigma": test["sigma"].astype(np.float32),
                             "end": test["end"], "symbol": test["symbol"], "symbols": list(panel.symbols)},
        # the raw validation outputs the calibration was fitted on, to audit or refit it offline
        "validation_predictions": {k: validation[k].astype(np.float32) for k in ("mean", "lower", "upper", "actual")} | {"end": validation["end"]},
        "samples_per_s": samples_per_s,
        "finite_weights": weights_finite(model.state_dict()),
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "ranks_identical": identical,
    }
    best.update(summary)
    save_checkpoint(best, folder / BEST)
    latest = load_checkpoint(folder / LATEST)
    latest.update({k: v for k, v in summary.items() if k != "model_state"})  # latest keeps its own weights
    save_checkpoint(latest, folder / LATEST)
    model_figures = summary["metrics"].get("model", {})
    log(f"calibration: shrinkage {calibration['shrinkage']}, interval scale {calibration['interval_scale']}")
    if model_figures:
        log(f"test: skill {model_figures['skill']:+.4f} (MAE {model_figures['mae']:.5f} vs random walk "
            f"{summary['metrics']['random_walk']['mae']:.5f}), 80 % interval coverage {model_figures['coverage_80']:.3f}")
    if pipes is not None and args.variant == "news":  # the price-only ablation only logs
        pipes.report_asset_materialization(
            metadata={
                "checkpoint": {"raw_value": str(folder / BEST), "type": "path"},
                "epoch": best["epoch"],
                "best_val_loss": best["best_val_loss"],
                "watermark": panel.watermark,
                "start": start,
                "validation_start": panel.meta["validation_start"],
                "test_start": panel.meta["test_start"],
                "fitted_until": best.get("fitted", {}).get("validation") or "–",
                "samples_per_s": round(samples_per_s, 1),
                "processes": summary["processes"],
                "ranks_identical": identical,
            }
        )


if __name__ == "__main__":
    main()

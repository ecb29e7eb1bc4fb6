"""Training entry point: `torchrun --nproc-per-node N -m stock_assets.model.train ...`.

DDP (gloo on CPU, nccl on GPU), DistributedSampler, AdamW with ReduceLROnPlateau, early stopping
on validation loss, seeded. Rank 0 alone writes checkpoint_latest.pt after every epoch and
checkpoint_best.pt on improvement (atomically), evaluates the best weights on the test split,
and, when launched by Dagster, reports through dagster-pipes. It also runs standalone.
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

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from stock_assets.model.checkpoints import BEST, LATEST, load_checkpoint, save_checkpoint, weights_finite
from stock_assets.model.metrics import evaluate
from stock_assets.model.network import SIZES, ModelConfig, StockPredictor, build_model
from stock_assets.model.panel import WindowDataset, load_panel


def parse_args(argv=None) -> argparse.Namespace:
    home = Path(os.environ.get("STOCK_HOME", ".stock_home"))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--panel", type=Path, default=home / "lake" / "training_windows")
    p.add_argument("--checkpoints", type=Path, default=home / "checkpoints")
    p.add_argument("--epochs", type=int, default=10, help="epochs to run in this invocation")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--patience", type=int, default=3, help="epochs without validation improvement before stopping")
    p.add_argument("--size", choices=sorted(SIZES), default="base")
    p.add_argument("--variant", choices=["news", "price"], default="news", help="price: the ablation without news")
    p.add_argument("--resume", action="store_true", help="continue from checkpoint_latest.pt")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def loss_on_returns(forecast: torch.Tensor, target: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """MSE of 5-day returns: scale-free, so every symbol weighs the same."""
    return (((forecast - target) / last[:, None]) ** 2).mean()


@torch.no_grad()
def predict(model: StockPredictor, dataset: WindowDataset, batch_size: int = 256):
    model.eval()
    forecasts, targets, lasts = [], [], []
    for price, news, target in DataLoader(dataset, batch_size=batch_size):
        forecasts.append(model(price, news))
        targets.append(target)
        lasts.append(price[:, -1, 0])
    if not forecasts:
        empty = np.zeros((0, model.config.horizon), np.float32)
        return empty, empty, np.zeros(0, np.float32)
    return torch.cat(forecasts).numpy(), torch.cat(targets).numpy(), torch.cat(lasts).numpy()


def validation_loss(model: StockPredictor, dataset: WindowDataset) -> float:
    forecast, target, last = predict(model, dataset)
    if not len(last):
        return float("nan")
    return float((((forecast - target) / last[:, None]) ** 2).mean())


def train_drift(panel) -> float:
    """Mean daily return over the training period (the drift baseline's forecast)."""
    cut = np.datetime64(panel.meta["validation_start"])
    close = panel.close[panel.sessions < cut]
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = close[1:] / close[:-1] - 1.0
    return float(np.nanmean(daily)) if np.isfinite(daily).any() else 0.0


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
    if os.getppid() == 1:  # the launcher died before the line above
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
    train_set, val_set, test_set = (WindowDataset(panel, s) for s in ("train", "validation", "test"))
    if not len(train_set):
        raise SystemExit(f"no training windows in {args.panel}: materialize more price history")
    folder = args.checkpoints if args.variant == "news" else args.checkpoints / "price_only"
    model = build_model(args.size, panel.news_dim, use_news=args.variant == "news")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    start_epoch, best, bad_epochs, history = 0, math.inf, 0, []
    if args.resume and (folder / LATEST).exists():
        state = load_checkpoint(folder / LATEST)
        if ModelConfig(**state["model_config"]) != model.config:
            raise SystemExit(f"{folder / LATEST} holds a different model configuration; train without --resume")
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        start_epoch, history = state["epoch"] + 1, state["history"]
        # New data means a new validation set: old best losses are not comparable.
        same_data = state["watermark"] == panel.watermark
        best, bad_epochs = (state["best_val_loss"], state["bad_epochs"]) if same_data else (math.inf, 0)
        log(f"resumed from epoch {state['epoch']} (data {state['watermark']} -> {panel.watermark})")
    ddp = DistributedDataParallel(model) if world > 1 else model
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=False)
    samples, seconds = 0, 0.0
    for epoch in range(start_epoch, start_epoch + args.epochs):
        sampler.set_epoch(epoch)
        ddp.train()
        started, total, count = time.perf_counter(), 0.0, 0
        for price, news, target in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_on_returns(ddp(price, news), target, price[:, -1, 0])
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
        val_loss = validation_loss(model, val_set)
        monitored = val_loss if math.isfinite(val_loss) else train_loss
        scheduler.step(monitored)
        improved = monitored < best - 1e-12
        best, bad_epochs = (monitored, 0) if improved else (best, bad_epochs + 1)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": optimizer.param_groups[0]["lr"]})
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
                "variant": args.variant,
                "size": args.size,
            }
            save_checkpoint(state, folder / LATEST)
            if improved or not (folder / BEST).exists():
                save_checkpoint(state, folder / BEST)
        log(f"epoch {epoch}: train {train_loss:.6f} validation {val_loss:.6f}{' *' if improved else ''}")
        stop = torch.tensor([bad_epochs >= args.patience], dtype=torch.int32)
        if world > 1:
            dist.broadcast(stop, src=0)
        if stop.item():
            log(f"early stop: no validation improvement in {args.patience} epochs")
            break
    identical = ranks_agree(model, world)
    if rank == 0:
        finish(args, panel, folder, test_set, samples / seconds if seconds else 0.0, identical, pipes, log)


def ranks_agree(model: StockPredictor, world: int) -> bool:
    """DDP keeps replicas in sync; verify it: every rank's weight checksum must be equal."""
    checksum = torch.tensor([float(sum(t.double().sum() for t in model.state_dict().values()))], dtype=torch.float64)
    if world == 1:
        return True
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def finish(args, panel, folder: Path, test_set: WindowDataset, samples_per_s: float, identical: bool, pipes, log) -> None:
    """Evaluate the best weights on the test split; record the figures in both checkpoints."""
    best = load_checkpoint(folder / BEST)
    model = StockPredictor(ModelConfig(**best["model_config"]))
    model.load_state_dict(best["model_state"])
    forecast, target, last = predict(model, test_set)
    metrics = evaluate(forecast, target, last, train_drift(panel)) if len(last) else {}
    summary = {
        "metrics": metrics,
        "samples_per_s": samples_per_s,
        "finite_weights": weights_finite(best["model_state"]),
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "ranks_identical": identical,
    }
    for name in (BEST, LATEST):
        state = load_checkpoint(folder / name)
        state.update(summary)
        save_checkpoint(state, folder / name)
    log(f"test: {metrics}")
    if pipes is not None and args.variant == "news":  # the price-only ablation only logs
        pipes.report_asset_materialization(
            metadata={
                "checkpoint": {"raw_value": str(folder / BEST), "type": "path"},
                "epoch": best["epoch"],
                "best_val_loss": best["best_val_loss"],
                "watermark": panel.watermark,
                "samples_per_s": round(samples_per_s, 1),
                "processes": summary["processes"],
                "ranks_identical": identical,
                "metrics": {"raw_value": metrics, "type": "json"},
                "history": {"raw_value": load_checkpoint(folder / LATEST)["history"], "type": "json"},
            }
        )


if __name__ == "__main__":
    main()

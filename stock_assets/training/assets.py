"""training_windows and model_checkpoint."""

import os

import dagster as dg
import numpy as np
import pandas as pd
from upath import UPath

from stock_assets.automation import when_upstream_changed
from stock_assets.lake import LakeResource
from stock_assets.settings import stock_home
from stock_assets.model.checkpoints import BEST, LATEST, load_checkpoint, variant_folder
from stock_assets.model.panel import SPLITS, history_by_symbol, no_windows_message, save_panel
from stock_assets.news.assets import news_embeddings
from stock_assets.news.columns import SENTIMENT_COLUMNS, embedding_matrix
from stock_assets.partitions import daily_partitions_def
from stock_assets.teams import ML_ENGINEERING
from stock_assets.training.launchers import TrainingLauncher
from stock_assets.training.metadata import checkpoint_metadata
from stock_assets.training.windows import TEST_SESSIONS, VALIDATION_SESSIONS, build_panel


def panel_root() -> UPath:
    return stock_home() / "lake" / "training_windows"


def checkpoint_root() -> UPath:
    return stock_home() / "checkpoints"


def sessions_setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a positive number of sessions")
    return int(value)


class TrainingWindowsConfig(dg.Config):
    news_per_session: int = 5
    market_news: bool = True
    # counted from the panel's last session, so older history never moves them
    validation_sessions: int = sessions_setting("STOCK_VALIDATION_SESSIONS", VALIDATION_SESSIONS)
    test_sessions: int = sessions_setting("STOCK_TEST_SESSIONS", TEST_SESSIONS)
    validation_start: str | None = None  # dates override the counts (a fixed experiment)
    test_start: str | None = None


def news_days(lake: LakeResource, keys: list[str]):
    """Each stored day of news_embeddings joined with raw_news' publication times, in order."""
    for key in keys:
        vectors = lake.read("news_embeddings", [key])
        if vectors is None or vectors.empty:
            continue
        times = lake.read("raw_news", [key])[["id", "published_at"]]
        tone = [c for c in SENTIMENT_COLUMNS if c in vectors.columns]  # partitions from before sentiment have none
        day = vectors[["id", "symbol", *tone]].merge(times, on="id", how="left", validate="1:1")
        day.attrs["vectors"] = embedding_matrix(vectors["embedding"])
        yield day


@dg.asset(
    owners=ML_ENGINEERING,
    group_name="training",
    kinds={"numpy"},
    deps=["raw_prices", news_embeddings, "raw_news"],
    automation_condition=when_upstream_changed,
)
def training_windows(context: dg.AssetExecutionContext, config: TrainingWindowsConfig, lake: LakeResource):
    """The training panel: per (trading session, symbol) the adjusted close, the aligned news
    count, mean headline vector (latest K) and tone (news aligned to the first session closing after
    publication: no look-ahead), plus the index of 30-in/5-out windows split by date: test = the
    last `test_sessions` sessions (its windows wholly inside), validation = the
    `validation_sessions` before, training = everything earlier; no window's targets cross a
    split, and backfilling older history moves no split. Stored once under
    STOCK_HOME/lake/training_windows; windows are sliced lazily by the training dataset.
    """
    keys = daily_partitions_def.get_partition_keys()
    raw_prices = lake.read("raw_prices", keys)  # the stored days only: a range with gaps is normal
    panel = build_panel(
        raw_prices if raw_prices is not None else pd.DataFrame(),
        news_days(lake, keys),
        news_per_session=config.news_per_session,
        market_news=config.market_news,
        validation_start=config.validation_start,
        test_start=config.test_start,
        validation_sessions=config.validation_sessions,
        test_sessions=config.test_sessions,
    )
    folder = save_panel(panel_root(), panel)
    split_counts = {name: int((panel.windows["split"] == code).sum()) for name, code in SPLITS.items()}
    history = history_by_symbol(panel)
    short = sorted(s for s, h in history.items() if not h["windows"])
    if not split_counts["train"]:
        context.log.warning(no_windows_message(panel))
    table = "\n".join(["| symbol | sessions with a close | longest run | windows |", "|---|---|---|---|"]
                      + [f"| {s} | {h['sessions']} | {h['longest_run']} | {h['windows']} |" for s, h in history.items()])
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "sessions": len(panel.sessions),
            "symbols": ", ".join(panel.symbols),
            "watermark": panel.watermark,
            "news_dim": panel.news_dim,
            "sessions_with_news": int((panel.news_slot >= 0).any(axis=1).sum()),
            "news_vectors": len(panel.news_vectors),
            # the headlines' daily tone: stored for the sentiment experiment, not a served input
            "symbol_sessions_with_tone": int(np.isfinite(panel.news_tone).sum()),
            **{f"windows_{name}": n for name, n in split_counts.items()},
            "validation_start": panel.meta["validation_start"],
            "test_start": panel.meta["test_start"],
            "validation_sessions": config.validation_sessions,
            "test_sessions": config.test_sessions,
            "panel_mb": round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 2),
            "windows_by_symbol": dg.MetadataValue.md(table),
            "symbols_without_windows": ", ".join(short) or "none",
            "rows_off_calendar": dg.MetadataValue.json(panel.meta.get("rows_off_calendar", {})),
        }
    )


class TrainingConfig(dg.Config):
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-4
    patience: int = 3
    resume: bool = True
    size: str = "base"
    seed: int = 0
    ablation: bool = True


def training_args(config: TrainingConfig) -> list[str]:
    """The training entry point's arguments (the same for torchrun here and the TrainJob's pods)."""
    return [
        "--panel", str(panel_root()), "--checkpoints", str(checkpoint_root()),
        "--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
        "--lr", str(config.learning_rate), "--patience", str(config.patience),
        "--size", config.size, "--seed", str(config.seed),
    ] + (["--resume"] if config.resume else [])


@dg.asset(
    owners=ML_ENGINEERING, group_name="training", kinds={"pytorch"}, deps=[training_windows], automation_condition=when_upstream_changed
)
def model_checkpoint(context: dg.AssetExecutionContext, config: TrainingConfig, trainer: TrainingLauncher):
    """The news-aware Transformer (30 sessions of closes + news in; 5 closes and their 10/50/90 %
    quantiles out) trained with PyTorch DDP through the training launcher, resuming from
    checkpoint_latest.pt unless told to start fresh. Untrained it is the random walk; after
    training, the shrinkage of its returns and the interval calibration are fitted on the
    validation split (no validation skill: it serves the random walk). Evaluated on the test
    split against the random walk, drift, the historical-volatility band and the same network
    without news (the ablation), on the same windows.
    """
    args = training_args(config)
    reported = trainer.launch(context, args).get_materialize_result()
    if config.ablation:
        trainer.launch(context, [*args, "--variant", "price"])
    best = load_checkpoint(checkpoint_root() / BEST)
    if (checkpoint_root() / LATEST).exists():  # the whole loss curve, past the best epoch
        best["history"] = load_checkpoint(checkpoint_root() / LATEST)["history"]
    ablation_path = variant_folder(checkpoint_root(), "price") / BEST
    ablation = load_checkpoint(ablation_path) if config.ablation and ablation_path.exists() else None
    return dg.MaterializeResult(metadata={**reported.metadata, **checkpoint_metadata(best, ablation)})

"""The training panel on disk and the lazily sliced windows dataset.

The panel is stored once, per (trading session, symbol): the close, the number of aligned
headlines and, where there were some, the mean headline vector (float16, sparse) and their tone
(mean positive minus negative sentiment share; NaN without headlines). Windows are
an index (symbol, end session, split); a window's [30, D] news tensor is assembled on access,
so memory grows with sessions x symbols x D, never with windows x 30 x D.

Layout: <root>/<version>/{sessions.npy, close.npy, news_slot.npy, news_count.npy,
news_vectors.npy, news_tone.npy, windows.npz, meta.json}; <root>/CURRENT names the live version (replaced
atomically, so readers never see a half-written panel).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stock_assets.model.network import HORIZON, WINDOW
from stock_assets.model.storage import local_copy, local_or_none, storage_path, write_bytes_once

SPLITS = {"train": 0, "validation": 1, "test": 2}


@dataclass
class Panel:
    sessions: np.ndarray  # datetime64[D] [S]
    symbols: list[str]
    close: np.ndarray  # float32 [S, N], NaN where the symbol did not trade
    news_slot: np.ndarray  # int32 [S, N], row in news_vectors or -1
    news_count: np.ndarray  # int16 [S, N]
    news_vectors: np.ndarray  # float16 [M, D]
    windows: dict[str, np.ndarray]  # symbol, end, split (int arrays)
    meta: dict
    news_tone: np.ndarray | None = None  # float32 [S, N], NaN without headlines (None: panels from before it)

    @property
    def news_dim(self) -> int:
        return int(self.meta["news_dim"])

    @property
    def watermark(self) -> str:
        return str(self.meta["watermark"])


def index_windows(close: np.ndarray, sessions: np.ndarray, validation_start, test_start, test_end=None) -> dict[str, np.ndarray]:
    """Every (symbol, end) with 30 finite input closes and 5 finite targets, split by date;
    a window whose targets fall in a later split than its end session is dropped, and a test
    window lies wholly in the test period: none of its days, inputs or targets, is a day whose
    return the model trained or was validated on. Sessions from `test_end` on belong to no
    split (a walk-forward fold stops there)."""
    finite = np.isfinite(close)
    split_of = np.where(sessions >= np.datetime64(test_start), 2, np.where(sessions >= np.datetime64(validation_start), 1, 0))
    if test_end is not None:
        split_of = np.where(sessions >= np.datetime64(test_end), 3, split_of)
    symbols, ends, splits = [], [], []
    span = WINDOW + HORIZON
    for s in range(close.shape[1]):
        ok = np.convolve(finite[:, s].astype(np.int32), np.ones(span, dtype=np.int32), mode="valid") == span
        starts = np.flatnonzero(ok)
        end = starts + WINDOW - 1
        same_split = split_of[end] == split_of[end + HORIZON]
        unseen = (split_of[end] != 2) | (split_of[starts] == 2)
        end = end[same_split & unseen & (split_of[end] < 3)]
        symbols.append(np.full(len(end), s, dtype=np.int32))
        ends.append(end.astype(np.int32))
        splits.append(split_of[end].astype(np.int8))
    return {
        "symbol": np.concatenate(symbols) if symbols else np.zeros(0, np.int32),
        "end": np.concatenate(ends) if ends else np.zeros(0, np.int32),
        "split": np.concatenate(splits) if splits else np.zeros(0, np.int8),
    }


def last_target_day(panel: Panel, split: str) -> str | None:
    """The last day whose return a window of `split` has as a target (None without windows)."""
    chosen = panel.windows["split"] == SPLITS[split]
    if not chosen.any():
        return None
    return str(panel.sessions[int(panel.windows["end"][chosen].max()) + HORIZON])


def first_input_days(panel: Panel, ends: np.ndarray) -> np.ndarray:
    """The first input session of each window ending at `ends` (session indices)."""
    return panel.sessions[np.asarray(ends, dtype=np.int64) - WINDOW + 1]


def data_identity(panel: Panel) -> dict:
    """What a training run's data is: the same identity means the same windows in every split."""
    keys = ("first_session", "watermark", "validation_start", "test_start", "test_end", "news_dim", "news_per_session", "market_news")
    return {**{k: panel.meta.get(k) for k in keys}, "first_session": str(panel.sessions[0]) if len(panel.sessions) else None,
            "symbols": list(panel.symbols)}


def history_by_symbol(panel: Panel) -> dict[str, dict[str, int]]:
    """Per symbol: sessions with a close, the longest run of consecutive ones, and windows."""
    counts = np.bincount(panel.windows["symbol"], minlength=len(panel.symbols)) if len(panel.symbols) else []
    out = {}
    for i, symbol in enumerate(panel.symbols):
        finite = np.isfinite(panel.close[:, i]).astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], finite, [0]])))
        longest = int((edges[1::2] - edges[::2]).max()) if len(edges) else 0
        out[symbol] = {"sessions": int(finite.sum()), "longest_run": longest, "windows": int(counts[i])}
    return out


def no_windows_message(panel: Panel, split: str = "train") -> str:
    """Why there is no window: each needs WINDOW + HORIZON consecutive sessions with a close."""
    history = history_by_symbol(panel)
    listed = ", ".join(f"{s} {h['sessions']} sessions (longest run {h['longest_run']})" for s, h in sorted(history.items())[:20])
    return (f"no {split} windows: a window needs {WINDOW + HORIZON} consecutive NYSE sessions with a close, inside one "
            f"split (validation from {panel.meta.get('validation_start')}, test from {panel.meta.get('test_start')}); "
            f"per symbol: {listed or 'no symbols'}. Materialize more price history or move the split dates.")


def resplit(panel: Panel, validation_start: str, test_start: str, test_end: str | None = None) -> Panel:
    """The same panel with its windows split at other dates (a walk-forward fold)."""
    if not validation_start < test_start or (test_end is not None and not test_start < test_end):
        raise ValueError(f"split dates must increase: {validation_start}, {test_start}, {test_end}")
    windows = index_windows(panel.close, panel.sessions, validation_start, test_start, test_end)
    meta = {**panel.meta, "validation_start": validation_start, "test_start": test_start, "test_end": test_end}
    return Panel(panel.sessions, panel.symbols, panel.close, panel.news_slot, panel.news_count, panel.news_vectors, windows, meta,
                 panel.news_tone)


def save_panel(root, panel: Panel, keep: int = 2):
    """A new panel version under `root` (a path or an object-store URL), then CURRENT pointing at
    it (replaced atomically: a rename locally, one PUT remotely); older versions beyond `keep` go."""
    target = storage_path(root)
    version = f"v{np.datetime64('now', 's').astype(int)}-{uuid.uuid4().hex[:6]}"
    local_root = local_or_none(target)
    staging = local_root if local_root else Path(tempfile.mkdtemp(prefix="panel_"))
    folder = staging / version
    folder.mkdir(parents=True)
    np.save(folder / "sessions.npy", panel.sessions.astype("datetime64[D]"))
    np.save(folder / "close.npy", panel.close.astype(np.float32))
    np.save(folder / "news_slot.npy", panel.news_slot.astype(np.int32))
    np.save(folder / "news_count.npy", panel.news_count.astype(np.int16))
    np.save(folder / "news_vectors.npy", panel.news_vectors.astype(np.float16))
    if panel.news_tone is not None:
        np.save(folder / "news_tone.npy", panel.news_tone.astype(np.float32))
    np.savez(folder / "windows.npz", **panel.windows)
    (folder / "meta.json").write_text(json.dumps({**panel.meta, "symbols": panel.symbols}, indent=1))
    if local_root is None:
        for item in sorted(folder.iterdir()):
            with open(item, "rb") as handle:
                write_bytes_once(target / version / item.name, handle.read())
        shutil.rmtree(staging, ignore_errors=True)
        write_bytes_once(target / "CURRENT", version.encode())
    else:
        pointer = local_root / f".CURRENT.{uuid.uuid4().hex}"
        pointer.write_text(version)
        os.replace(pointer, local_root / "CURRENT")
    versions = sorted((p for p in target.iterdir() if p.is_dir() and p.name.startswith("v")), key=lambda p: p.name)
    for old in versions[:-keep]:
        if old.name != version:
            if local_root is None:
                old.fs.rm(old.path, recursive=True)
            else:
                shutil.rmtree(local_or_none(old), ignore_errors=True)
    return target / version


def load_panel(root) -> Panel:
    source = storage_path(root)
    current = source / "CURRENT"
    if not current.exists():
        raise FileNotFoundError(f"no training panel at {source}: materialize training_windows first")
    version = current.read_text().strip()
    local_root = local_or_none(source)
    # on an object store the version (immutable) is fetched once: numpy maps the vectors locally
    folder = local_root / version if local_root else local_copy(source / version, "panels")
    meta = json.loads((folder / "meta.json").read_text())
    tone = folder / "news_tone.npy"
    with np.load(folder / "windows.npz") as windows:
        index = {k: windows[k] for k in windows.files}
    return Panel(
        sessions=np.load(folder / "sessions.npy"),
        symbols=list(meta.pop("symbols")),
        close=np.load(folder / "close.npy"),
        news_slot=np.load(folder / "news_slot.npy"),
        news_count=np.load(folder / "news_count.npy"),
        news_vectors=np.load(folder / "news_vectors.npy", mmap_mode="r"),
        windows=index,
        meta=meta,
        news_tone=np.load(tone) if tone.exists() else None,
    )


def window_tensors(panel: Panel, symbol: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's inputs for one window: closes [30, 1] and news [30, D] (zeros without news)."""
    rows = slice(end - WINDOW + 1, end + 1)
    price = panel.close[rows, symbol].astype(np.float32)[:, None]
    news = np.zeros((WINDOW, panel.news_dim), dtype=np.float32)
    slots = panel.news_slot[rows, symbol]
    have = slots >= 0
    if have.any():
        news[have] = panel.news_vectors[slots[have]].astype(np.float32)
    return price, news


def sentiment_tensor(panel: Panel, symbol: int, end: int) -> np.ndarray:
    """[30, 2]: per input day the tone of its headlines and a 1 where there were any."""
    tone = panel.news_tone[end - WINDOW + 1 : end + 1, symbol].astype(np.float32)
    present = np.isfinite(tone)
    return np.stack([np.where(present, tone, 0.0), present], axis=1).astype(np.float32)


class WindowDataset(Dataset):
    """(closes [30, 1], news [30, D], the 5 target closes); with `sentiment`, the news tensor
    carries the sentiment channels after the D vector columns ([30, D + 2])."""

    def __init__(self, panel: Panel, split: str, sentiment: bool = False):
        self.panel, self.sentiment = panel, sentiment
        if sentiment and panel.news_tone is None:
            raise ValueError("the panel has no news_tone: re-materialize training_windows (news_embeddings with sentiment columns)")
        chosen = panel.windows["split"] == SPLITS[split]
        self.symbol = panel.windows["symbol"][chosen]
        self.end = panel.windows["end"][chosen]

    def __len__(self) -> int:
        return len(self.end)

    def __getitem__(self, i: int):
        s, t = int(self.symbol[i]), int(self.end[i])
        price, news = window_tensors(self.panel, s, t)
        if self.sentiment:
            news = np.concatenate([news, sentiment_tensor(self.panel, s, t)], axis=1)
        target = self.panel.close[t + 1 : t + 1 + HORIZON, s].astype(np.float32)
        return torch.from_numpy(price), torch.from_numpy(news), torch.from_numpy(target)

"""Checkpoints written atomically: a torn file never replaces a good one (locally: temp file,
fsync, rename; on an object store: one PUT)."""

from __future__ import annotations

import io
import os

import torch

from stock_assets.model.storage import local_or_none, read_bytes, storage_path, write_bytes_once
from stock_assets.owners import temp_name

LATEST, BEST = "checkpoint_latest.pt", "checkpoint_best.pt"
# where each training variant keeps its checkpoints under the checkpoint root; export reads the
# first two only (the sentiment variant is an experiment: bench/sentiment_ablation.py)
VARIANT_FOLDERS = {"news": "", "price": "price_only", "sentiment": "price_sentiment"}


def variant_folder(root, variant: str):
    folder = storage_path(root)
    return folder / VARIANT_FOLDERS[variant] if VARIANT_FOLDERS[variant] else folder


def save_checkpoint(state: dict, path) -> None:
    remote = storage_path(path)
    path = local_or_none(remote)
    if path is None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_bytes_once(remote, buffer.getvalue())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(temp_name(path.name))
    try:
        torch.save(state, temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def load_checkpoint(path) -> dict:
    source = storage_path(path)
    local = local_or_none(source)
    return torch.load(local if local else read_bytes(source), map_location="cpu", weights_only=False)


def weights_finite(state_dict: dict) -> bool:
    return all(torch.isfinite(t).all().item() for t in state_dict.values() if t.is_floating_point())

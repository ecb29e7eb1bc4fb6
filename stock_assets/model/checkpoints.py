"""Checkpoints written atomically: a torn file never replaces a good one."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from stock_assets.owners import temp_name

LATEST, BEST = "checkpoint_latest.pt", "checkpoint_best.pt"


def save_checkpoint(state: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(temp_name(path.name))
    try:
        torch.save(state, temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=False)


def weights_finite(state_dict: dict) -> bool:
    return all(torch.isfinite(t).all().item() for t in state_dict.values() if t.is_floating_point())

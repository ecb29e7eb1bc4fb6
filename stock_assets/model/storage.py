"""Files of the trainer (the panel it reads, the checkpoints it writes) on a local path or an
object store (STOCK_HOME=s3://...), through universal-pathlib. No Dagster: runs in training pods.

On an object store a file is written by one PUT, so a reader sees the old object or the new one,
never half of one: the atomicity a temp file and a rename give on a file system.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path

from upath import UPath

from stock_assets.settings import as_upath, is_local, local_home


def storage_path(path: str | Path | UPath) -> UPath:
    """`path` as a UPath carrying this deployment's object-store options (AWS_ENDPOINT_URL)."""
    if isinstance(path, UPath) and not is_local(path):
        return path
    return as_upath(str(path))


def local_or_none(path: UPath) -> Path | None:
    return Path(path.path) if is_local(path) else None


def write_bytes_once(path: UPath, data: bytes) -> None:
    """One PUT (object stores only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)


def read_bytes(path: UPath) -> io.BytesIO:
    with path.open("rb") as handle:
        return io.BytesIO(handle.read())


def local_copy(folder: UPath, cache_name: str) -> Path:
    """A local copy of the immutable remote `folder` (a panel version) under STOCK_LOCAL_HOME's
    cache, downloaded once: numpy maps the news vectors from a local file. Processes that ask at
    once (the DDP ranks) each download into a staging folder and rename it into place: the first
    wins, the others use its copy; nobody ever reads a file another process is writing."""
    target = local_home() / "cache" / cache_name / folder.name
    if (target / ".complete").exists():
        return target
    staging = target.parent / f".{folder.name}.{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    for item in folder.iterdir():
        if not item.is_dir():
            with item.open("rb") as source, open(staging / item.name, "wb") as handle:
                while chunk := source.read(1 << 24):
                    handle.write(chunk)
    (staging / ".complete").touch()
    try:
        os.rename(staging, target)
    except OSError:  # already there: another process's complete copy, or a crashed one's partial copy
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    return target

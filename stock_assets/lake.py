"""STOCK_HOME layout and the partitioned Parquet IO manager (one file per daily partition).

STOCK_HOME is a local path or an object-store URL (universal-pathlib / fsspec). Files are
written atomically: locally to a temp file that is renamed into place, on object stores by a
single PUT (readers see the old object or the new one, never half of one).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from stock_assets.owners import remove_dead_leftovers, temp_name
from stock_assets.settings import as_upath, is_local, stock_home

def lake_root() -> UPath:
    return stock_home() / "lake"


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow, with pandas metadata every pandas can read back: Arrow-backed list
    columns are recorded as plain object columns (pd.read_parquet chokes on their dtype name)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = json.loads(table.schema.metadata[b"pandas"])
    for column in meta["columns"]:
        if str(column.get("pandas_type", "")).startswith("list"):
            column["numpy_type"] = "object"
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta).encode()})


class LakeWriteError(OSError):
    """A lake file could not be written; the message names the path and says the previous file
    (if any) is unchanged."""


def write_parquet_atomic(frame: pd.DataFrame, path: UPath) -> None:
    """Write `frame` to `path` so that a crash never leaves a torn or partial file there: a
    hidden temp file named by its owner process, fsynced, then renamed into place. A full disk or
    a read-only STOCK_HOME fails naming the path, with the previous file intact."""
    table = arrow_table(frame)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not is_local(path):
            with path.open("wb") as handle:
                pq.write_table(table, handle)
            return
    except OSError as exc:
        raise lake_write_error(path, exc) from exc
    final = Path(path.path)
    temp = final.with_name(temp_name(final.name))
    try:
        # our own handle: closed whatever pyarrow raises (a leaked one keeps a deleted file open)
        with open(temp, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename makes it the partition
        os.replace(temp, final)
    except OSError as exc:
        raise lake_write_error(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):  # on a read-only file system there is nothing to remove
            temp.unlink(missing_ok=True)


def lake_write_error(path, exc: OSError) -> LakeWriteError:
    code = exc.errno if exc.errno is not None else _errno_in(str(exc))
    reason = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
              errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded"}.get(code, str(exc))
    return LakeWriteError(code or errno.EIO, f"cannot write {path}: {reason}; the previous file (if any) is unchanged. "
                                             f"Free space or make STOCK_HOME writable, then re-run the partition.")


def _errno_in(message: str) -> int | None:
    # pyarrow raises OSError without errno; its message carries the C library's text
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        if os.strerror(code).lower() in message.lower():
            return code
    return None


def _arrow_backed_lists(arrow_type: pa.DataType):
    # List columns (embeddings) stay Arrow-backed: typed even when empty, no per-row arrays.
    return pd.ArrowDtype(arrow_type) if pa.types.is_list(arrow_type) else None


def read_parquet(path: UPath) -> pd.DataFrame:
    with path.open("rb") as handle:
        return pq.read_table(handle).to_pandas(types_mapper=_arrow_backed_lists)


def partition_path(root: UPath, asset: str, partition_key: str) -> UPath:
    return root / asset / f"{partition_key}.parquet"


def read_partitions(root: UPath, asset: str, partition_keys: Iterable[str]) -> pd.DataFrame | None:
    """Concatenate the stored partitions among `partition_keys`; None when none is stored."""
    frames = []
    for key in partition_keys:
        path = partition_path(root, asset, key)
        if path.exists():
            frames.append(read_parquet(path))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


class PartitionedParquetIOManager(dg.UPathIOManager):
    """Stores a daily-partitioned frame as lake/<asset>/<YYYY-MM-DD>.parquet.

    One output may cover many partitions (single-run backfills): rows are split by the
    `date` column, every partition of the run gets a file (an empty, typed one for a day
    without rows), and all files are staged before any is moved into place. Loading a
    range of partitions returns one frame.
    """

    extension = ".parquet"
    partition_column = "date"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        write_parquet_atomic(obj, path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        return read_parquet(path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if not context.has_asset_partitions:
            return super().handle_output(context, obj)
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a DataFrame, got {type(obj)}")
        paths = self._get_paths_for_partitions(context)
        by_key = split_by_partition(obj, self.partition_column, paths.keys())
        folder = next(iter(paths.values())).parent
        if is_local(folder):  # temp files of runs killed on this host
            remove_dead_leftovers(Path(folder.path))
        for key, frame in by_key.items():
            write_parquet_atomic(frame, paths[key])
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(folder)), "files_written": len(by_key)}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | None:
        loaded = super().load_input(context)
        if isinstance(loaded, dict):
            if not loaded:
                return None
            return pd.concat([loaded[k] for k in sorted(loaded)], ignore_index=True)
        return loaded


def split_by_partition(
    frame: pd.DataFrame, column: str, partition_keys: Iterable[str]
) -> dict[str, pd.DataFrame]:
    """Rows of `frame` per partition key (YYYY-MM-DD of `column`); refuses rows outside the keys."""
    keys = list(partition_keys)
    if column not in frame.columns:
        raise ValueError(f"cannot partition: the frame has no {column!r} column")
    day = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
    outside = sorted(set(day) - set(keys))
    if outside:
        raise ValueError(
            f"{len(outside)} day(s) of rows fall outside the partitions being written "
            f"({keys[0]}..{keys[-1]}): {outside[:5]}"
        )
    return {key: frame[day == key].reset_index(drop=True) for key in keys}




class LakeResource(dg.ConfigurableResource):
    """Read access to stored partitions (e.g. the stored history raw_prices compares against)."""

    base_url: str

    @property
    def root(self) -> UPath:
        return as_upath(self.base_url)

    def read(self, asset: str, partition_keys: Iterable[str]) -> pd.DataFrame | None:
        return read_partitions(self.root, asset, partition_keys)


class LakeIOManager(dg.ConfigurableIOManagerFactory):
    """The Parquet lake under STOCK_HOME/lake (a path or an s3:// / gs:// URL)."""

    lake: LakeResource

    def create_io_manager(self, context) -> PartitionedParquetIOManager:
        return PartitionedParquetIOManager(base_path=self.lake.root)

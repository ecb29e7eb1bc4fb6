"""The Triton model repository: STOCK_HOME/models/stock_predictor/{config.pbtxt, <version>/model.onnx}.

Each publication adds the next numeric version (written to a hidden folder, then renamed into
place, so Triton never sees a half-copied model or a version without its config) and keeps the
last few. On an object store (STOCK_HOME=s3://..., which Triton reads natively) there is no
rename: config.pbtxt is PUT first, then the version's model.onnx in one PUT, so a version exists
for a reader only once its model is whole.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from stock_assets.model.storage import local_or_none, storage_path, write_bytes_once
from stock_assets.owners import owner_tag, remove_dead_leftovers, temp_name

from stock_assets.model.network import HORIZON, QUANTILES, WINDOW

MODEL_NAME = "stock_predictor"


def config_text(news_dim: int, max_batch_size: int = 64, queue_delay_us: int = 500) -> str:
    """config.pbtxt for production Triton (onnxruntime backend); dims exclude the batch axis."""
    return f"""name: "{MODEL_NAME}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{ name: "price_input" data_type: TYPE_FP32 dims: [ {WINDOW}, 1 ] }},
  {{ name: "news_input" data_type: TYPE_FP32 dims: [ {WINDOW}, {news_dim} ] }}
]
output [
  {{ name: "forecast" data_type: TYPE_FP32 dims: [ {HORIZON} ] }},
  {{ name: "forecast_quantiles" data_type: TYPE_FP32 dims: [ {HORIZON}, {len(QUANTILES)} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}
version_policy {{ latest {{ num_versions: 1 }} }}
instance_group [ {{ kind: KIND_AUTO count: 1 }} ]
"""


def parse_config(text: str):
    """Parse into Triton's ModelConfig protobuf (shipped with tritonclient); raises ValueError."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ValueError(f"config.pbtxt does not parse as a Triton ModelConfig: {exc}") from None


def properties_of(model_dir: Path, version: int) -> dict[str, str]:
    """The metadata recorded in a published version's ONNX file (watermark, served_network, ...)."""
    import onnx

    path = storage_path(model_dir) / str(version) / "model.onnx"
    with path.open("rb") as handle:
        return {p.key: p.value for p in onnx.load(handle, load_external_data=False).metadata_props}


def evaluation_of(model_dir: Path, version: int) -> dict | None:
    """The evaluation recorded in a published version's ONNX metadata (`evaluation`, JSON)."""
    props = properties_of(model_dir, version)
    return json.loads(props["evaluation"]) if "evaluation" in props else None


def versions(model_dir) -> list[int]:
    model_dir = storage_path(model_dir)
    if not model_dir.exists():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def publish(model_dir, onnx_file: Path, news_dim: int, keep: int = 3, max_batch_size: int = 64) -> int:
    """Copy `onnx_file` in as the next version, with its config.pbtxt; returns the version.

    Order, so that a process killed at any point leaves a repository Triton can load: the model
    is staged complete (fsynced) in a hidden folder; config.pbtxt is written (atomically) before
    the version appears, so no version is ever there without its config; the staged folder is
    renamed to the next free number (a number another publisher took first is skipped, never
    overwritten); old versions are pruned last. Staging folders of dead publishers are removed.
    """
    text = config_text(news_dim, max_batch_size)
    config = parse_config(text)
    if config.input[1].dims[1] != news_dim:
        raise ValueError(f"config.pbtxt news width {config.input[1].dims[1]} != model news width {news_dim}")
    remote = storage_path(model_dir)
    model_dir = local_or_none(remote)
    if model_dir is None:
        return publish_to_object_store(remote, onnx_file, text, keep)
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_leftovers(model_dir, STAGING)
    remove_dead_leftovers(model_dir)
    staging = model_dir / f".{owner_tag()}{STAGING}"
    try:
        stage_version(onnx_file, staging)
        write_config(model_dir, text)
        version = move_into_place(staging, model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in versions(model_dir)[:-keep]:
        shutil.rmtree(model_dir / str(old), ignore_errors=True)
    return version


STAGING = ".staging"


def publish_to_object_store(model_dir, onnx_file: Path, text: str, keep: int) -> int:
    """Config first, then the next free version's model.onnx in one PUT; old versions pruned last.
    One publisher at a time (onnx_model is one unpartitioned asset): a number already taken is
    skipped, never overwritten."""
    write_bytes_once(model_dir / "config.pbtxt", text.encode())
    data = Path(onnx_file).read_bytes()
    version = (versions(model_dir) or [0])[-1] + 1
    while (model_dir / str(version) / "model.onnx").exists():
        version += 1
    write_bytes_once(model_dir / str(version) / "model.onnx", data)
    for old in versions(model_dir)[:-keep]:
        folder = model_dir / str(old)
        folder.fs.rm(folder.path, recursive=True)
    return version


def stage_version(onnx_file: Path, staging: Path) -> None:
    staging.mkdir()
    shutil.copyfile(onnx_file, staging / "model.onnx")
    with open(staging / "model.onnx", "rb") as handle:
        os.fsync(handle.fileno())


def write_config(model_dir: Path, text: str) -> None:
    temp = model_dir / temp_name("config.pbtxt")
    try:
        temp.write_text(text)
        os.replace(temp, model_dir / "config.pbtxt")
    finally:
        temp.unlink(missing_ok=True)


def move_into_place(staging: Path, model_dir: Path) -> int:
    """Rename `staging` to the next free version number; a rename onto a folder another
    publisher created meanwhile fails (it is not empty), and the next number is tried."""
    while True:
        version = (versions(model_dir) or [0])[-1] + 1
        try:
            os.rename(staging, model_dir / str(version))
            return version
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise

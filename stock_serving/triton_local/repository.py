"""The local Triton repository: the production repository re-expressed for the Python backend.

The tritonserver bundled in nvidia-pytriton has only the Python backend, so locally each
version of `stock_predictor` is the same model.onnx (linked, not copied) run by onnxruntime
inside `model.py`. Model name, tensors, shapes, batching and version numbers are the
production ones. The production repository may be on an object store (a UPath, from the main
venv: the deployer syncs before it loads); locally the model is linked, from an object store
downloaded. Standard library only at import: this runs in the Triton venv too.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from pathlib import Path

MODEL_NAME = "stock_predictor"
BACKEND_MODEL = Path(__file__).with_name("model.py")


def local_config(production_text: str) -> str:
    text = production_text.replace('platform: "onnxruntime_onnx"', 'backend: "python"')
    return re.sub(r"kind: KIND_AUTO", "kind: KIND_CPU", text)


def sync(production_root, local_root: Path) -> list[int]:
    """Mirror every production version into the local repository; returns the versions."""
    source = production_root / MODEL_NAME
    target = local_root / MODEL_NAME
    if not (source / "config.pbtxt").exists():
        raise FileNotFoundError(f"no Triton model at {source}: materialize onnx_model first")
    target.mkdir(parents=True, exist_ok=True)
    versions = sorted(int(p.name) for p in source.iterdir() if p.is_dir() and p.name.isdigit())
    for version in versions:
        folder = target / str(version)
        if (folder / "model.onnx").exists():
            continue
        staging = target / f".{version}.{uuid.uuid4().hex}"
        staging.mkdir()
        model = source / str(version) / "model.onnx"
        if getattr(model, "protocol", "") in ("", "file", "local"):
            os.symlink(Path(str(model.path if hasattr(model, "path") else model)).resolve(), staging / "model.onnx")
        else:  # an object store: a local copy for the Python backend (one download per version)
            (staging / "model.onnx").write_bytes(model.read_bytes())
        shutil.copyfile(BACKEND_MODEL, staging / "model.py")
        os.replace(staging, folder)
    for old in target.iterdir():
        if old.is_dir() and old.name.isdigit() and int(old.name) not in versions:
            shutil.rmtree(old, ignore_errors=True)
    temp = target / f".config.{uuid.uuid4().hex}"
    temp.write_text(local_config((source / "config.pbtxt").read_text()))
    os.replace(temp, target / "config.pbtxt")
    return versions


def sync_from_settings() -> list[int]:
    """STOCK_HOME/models (a path or an object store) into STOCK_LOCAL_HOME/triton_local/repository,
    when a model is published; main venv only (it reads stock_assets.settings)."""
    from stock_assets.settings import local_home, stock_home

    models = stock_home() / "models"
    if not (models / MODEL_NAME / "config.pbtxt").exists():
        return []
    return sync(models, local_home() / "triton_local" / "repository")


def main(argv: list[str] | None = None) -> None:
    """`python -m stock_serving.triton_local.repository [PRODUCTION_MODELS LOCAL_REPOSITORY]`: the
    settings' folders when none are given. The Dagster deployer launches this (stock_assets never
    imports stock_serving); the last line is the versions, as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("production", nargs="?", help="the production models folder (holds stock_predictor/)")
    parser.add_argument("local", nargs="?", help="the local Python-backend repository to fill")
    args = parser.parse_args(argv)
    if bool(args.production) != bool(args.local):
        parser.error("give both PRODUCTION_MODELS and LOCAL_REPOSITORY, or neither")
    if args.production:
        from stock_assets.settings import as_upath  # an object store, with this deployment's storage options

        versions = sync(as_upath(args.production), Path(args.local))
    else:
        versions = sync_from_settings()
    print(f"local Triton repository holds versions {versions}", file=sys.stderr)
    print(json.dumps(versions))


if __name__ == "__main__":
    main()

"""onnx_model: the best checkpoint as ONNX, checked for parity and published to Triton's repository."""

import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import onnx

from stock_assets.automation import when_upstream_changed
from stock_assets.export.onnx_export import OPSET, export_onnx, model_from_checkpoint, onnx_session, parity, random_batch
from stock_assets.export.triton_repository import MODEL_NAME, publish
from stock_assets.lake import local_home
from stock_assets.model.checkpoints import BEST
from stock_assets.model.panel import WindowDataset, load_panel
from stock_assets.training.assets import checkpoint_root, model_checkpoint, panel_root

PARITY_LIMIT = 1e-4  # the contract's limit; config may only tighten it
BATCH_SIZES = (1, 8, 64)


def model_repository() -> Path:
    return local_home() / "models" / MODEL_NAME


class OnnxConfig(dg.Config):
    keep_versions: int = 3
    max_batch_size: int = 64
    parity_limit: float = PARITY_LIMIT


def real_batches(news_dim: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Windows from the training panel (test split first), at each batch size."""
    try:
        panel = load_panel(panel_root())
    except FileNotFoundError:
        return []
    if panel.news_dim != news_dim:
        return []
    dataset = next((d for d in (WindowDataset(panel, s) for s in ("test", "validation", "train")) if len(d)), None)
    batches = []
    for size in BATCH_SIZES:
        if dataset is None or len(dataset) < size:
            continue
        items = [dataset[i] for i in range(size)]
        batches.append((np.stack([p.numpy() for p, _, _ in items]), np.stack([n.numpy() for _, n, _ in items])))
    return batches


@dg.asset(
    group_name="serving",
    kinds={"onnx", "triton"},
    deps=[model_checkpoint],
    automation_condition=when_upstream_changed,
    check_specs=[dg.AssetCheckSpec("onnx_parity", asset="onnx_model", blocking=True,
                                   description=f"onnxruntime matches PyTorch within {PARITY_LIMIT} (relative to the last close)")],
)
def onnx_model(context: dg.AssetExecutionContext, config: OnnxConfig):
    """The best checkpoint exported to ONNX (dynamic batch axis; inputs price_input [B,30,1] and
    news_input [B,30,D], output forecast [B,5], normalization inside the graph) and published as
    a new numeric version of `stock_predictor` in the Triton model repository. A model whose
    onnxruntime output differs from PyTorch's is never published.
    """
    model, state = model_from_checkpoint(checkpoint_root() / BEST)
    news_dim = model.config.news_dim
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, path)
        session = onnx_session(path)
        real = real_batches(news_dim)
        random = [random_batch(size, news_dim, seed=size) for size in BATCH_SIZES]
        errors = parity(model, session, real + random)
        limit = min(config.parity_limit, PARITY_LIMIT)
        passed = errors["max_abs_error_relative"] <= limit
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, {
            "max_abs_error_relative": str(errors["max_abs_error_relative"]),
            "watermark": state["watermark"], "epoch": str(state["epoch"]),
        })
        onnx.save(proto, str(path))
        version = publish(model_repository(), path, news_dim, config.keep_versions, config.max_batch_size) if passed else None
        size = path.stat().st_size
    if not passed:
        context.log.error(f"parity failed ({errors}); the model was not published")
    return dg.MaterializeResult(
        metadata={
            "version": version if version is not None else -1,
            "published": passed,
            "repository": dg.MetadataValue.path(str(model_repository())),
            "news_dim": news_dim,
            "opset": OPSET,
            "file_bytes": size,
            "watermark": state["watermark"],
            **errors,
            "real_batches": len(real),
        },
        check_results=[dg.AssetCheckResult(check_name="onnx_parity", passed=passed, metadata={**errors, "limit": limit})],
    )

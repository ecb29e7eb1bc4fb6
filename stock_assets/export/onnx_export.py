"""Export a checkpoint to ONNX (dynamic batch axis) and measure parity with PyTorch.

The graph keeps the network's own normalization, so Triton serves raw closes in, closes out:
inputs `price_input` FP32 [B, 30, 1] and `news_input` FP32 [B, 30, D]; outputs `forecast`
FP32 [B, 5] and `forecast_quantiles` FP32 [B, 5, 3] (10/50/90 %) (the DESIGN.md contract).
The fitted shrinkage and interval calibration are buffers of the network, so they are
constants of the graph.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import torch

from stock_assets.model.checkpoints import load_checkpoint
from stock_assets.model.network import HORIZON, QUANTILES, WINDOW, ModelConfig, StockPredictor

OPSET = 17
INPUTS = ("price_input", "news_input")
OUTPUTS = ("forecast", "forecast_quantiles")


def model_from_checkpoint(path: Path) -> tuple[StockPredictor, dict]:
    state = load_checkpoint(path)
    model = StockPredictor(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model_state"])
    return model.eval(), state


def export_onnx(model: StockPredictor, path: Path) -> None:
    """Atomic: the file appears complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    price = 100 + torch.randn(2, WINDOW, 1)
    news = torch.randn(2, WINDOW, model.config.news_dim)
    try:
        # Traced with grad enabled on purpose: under no_grad PyTorch swaps the encoder layers for
        # a fused kernel (_transformer_encoder_layer_fwd) that has no ONNX equivalent.
        with torch.enable_grad():
            torch.onnx.export(
                model, (price, news), str(temp),
                input_names=list(INPUTS), output_names=list(OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in (*INPUTS, *OUTPUTS)},
                opset_version=OPSET, dynamo=False,
            )
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def onnx_session(path):
    """An onnxruntime session for a model file on a path or an object store."""
    import onnxruntime as ort

    from stock_assets.model.storage import local_or_none, storage_path

    source = storage_path(path)
    local = local_or_none(source)
    return ort.InferenceSession(str(local) if local else source.read_bytes(), providers=["CPUExecutionProvider"])


def random_batch(batch: int, news_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    price = (rng.uniform(5, 500, (batch, 1, 1)) * np.exp(np.cumsum(0.02 * rng.standard_normal((batch, WINDOW, 1)), axis=1)))
    return price.astype(np.float32), rng.standard_normal((batch, WINDOW, news_dim)).astype(np.float32)


def parity(model: StockPredictor, session, batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Max abs difference ONNX vs PyTorch over both outputs, on close / last close (scale-free:
    the contract's 1e-4 then means the same for a $5 and a $5,000 stock) and on the raw closes."""
    relative, absolute = 0.0, 0.0
    for price, news in batches:
        with torch.inference_mode():
            expected = [t.numpy() for t in model(torch.from_numpy(price), torch.from_numpy(news))]
        got = session.run(list(OUTPUTS), {INPUTS[0]: price, INPUTS[1]: news})
        shapes = [(len(price), HORIZON), (len(price), HORIZON, len(QUANTILES))]
        for name, g, e, shape in zip(OUTPUTS, got, expected, shapes):
            if g.shape != shape:
                raise ValueError(f"ONNX {name} has shape {g.shape}, expected {shape}")
            last = price[:, -1, :].reshape((len(price),) + (1,) * (g.ndim - 1))
            relative = max(relative, float(np.abs(g / last - e / last).max()))
            absolute = max(absolute, float(np.abs(g - e).max()))
    return {"max_abs_error_relative": relative, "max_abs_error": absolute}

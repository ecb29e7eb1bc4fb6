"""Export a checkpoint to ONNX (dynamic batch axis) and measure parity with PyTorch.

The graph keeps the network's own normalization, so Triton serves raw closes in, closes out:
inputs `price_input` FP32 [B, 30, 1] and `news_input` FP32 [B, 30, D], output `forecast`
FP32 [B, 5] (the DESIGN.md contract).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import torch

from stock_assets.model.checkpoints import load_checkpoint
from stock_assets.model.network import HORIZON, WINDOW, ModelConfig, StockPredictor

OPSET = 17
INPUTS = ("price_input", "news_input")
OUTPUT = "forecast"


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
                input_names=list(INPUTS), output_names=[OUTPUT],
                dynamic_axes={INPUTS[0]: {0: "batch"}, INPUTS[1]: {0: "batch"}, OUTPUT: {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def onnx_session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def random_batch(batch: int, news_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    price = (rng.uniform(5, 500, (batch, 1, 1)) * np.exp(np.cumsum(0.02 * rng.standard_normal((batch, WINDOW, 1)), axis=1)))
    return price.astype(np.float32), rng.standard_normal((batch, WINDOW, news_dim)).astype(np.float32)


def parity(model: StockPredictor, session, batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Max abs difference ONNX vs PyTorch, on forecast/last close (scale-free: the contract's
    1e-4 then means the same for a $5 and a $5,000 stock) and on the raw closes."""
    relative, absolute = 0.0, 0.0
    for price, news in batches:
        with torch.inference_mode():
            expected = model(torch.from_numpy(price), torch.from_numpy(news)).numpy()
        got = session.run([OUTPUT], {INPUTS[0]: price, INPUTS[1]: news})[0]
        if got.shape != (len(price), HORIZON):
            raise ValueError(f"ONNX forecast has shape {got.shape}, expected {(len(price), HORIZON)}")
        last = price[:, -1, :]
        relative = max(relative, float(np.abs(got / last - expected / last).max()))
        absolute = max(absolute, float(np.abs(got - expected).max()))
    return {"max_abs_error_relative": relative, "max_abs_error": absolute}

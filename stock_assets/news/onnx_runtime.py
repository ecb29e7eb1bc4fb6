"""The embedder's network (pooling and sentiment softmax included) as a dynamically quantized
int8 ONNX graph run by onnxruntime: the fastest CPU path without native bf16."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

log = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """What export needs of stock_assets.news.embedder.TextEmbedder (which imports this module:
    described here, not imported, so the two modules do not import each other)."""

    model: torch.nn.Module
    tokenizer: Any
    has_sentiment: bool
    device: torch.device


class PooledEncoder(torch.nn.Module):
    """input_ids, attention_mask -> mean-pooled last hidden layer [, sentiment probabilities]."""

    def __init__(self, model: torch.nn.Module, has_sentiment: bool, label_order: list[int] | None):
        super().__init__()
        self.model, self.has_sentiment = model, has_sentiment
        self.register_buffer("order", torch.tensor(label_order or [0], dtype=torch.long), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.has_sentiment)
        hidden = out.hidden_states[-1] if self.has_sentiment else out.last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        if not self.has_sentiment:
            return pooled
        return pooled, torch.softmax(out.logits, dim=-1).index_select(1, self.order)


class QuantizedEncoder:
    def __init__(self, path: Path, has_sentiment: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.has_sentiment = has_sentiment

    @classmethod
    def build(cls, embedder: TextEmbedder, folder: Path) -> QuantizedEncoder:
        """Export and quantize once per model fingerprint; later loads reuse the file."""
        target = folder / "encoder.int8.onnx"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tag = uuid.uuid4().hex
            fp32, int8 = folder / f".fp32.{tag}.onnx", folder / f".int8.{tag}.onnx"
            try:
                export(embedder, fp32)
                from onnxruntime.quantization import QuantType, quantize_dynamic

                # Per-channel int8 weights on MatMuls only (embeddings stay fp32): the most
                # accurate dynamic scheme measured on BERT/MiniLM, at the same speed.
                quantize_dynamic(
                    str(fp32), str(int8), weight_type=QuantType.QInt8,
                    per_channel=True, op_types_to_quantize=["MatMul"],
                )
                os.replace(int8, target)
            finally:
                for leftover in folder.glob(f".*.{tag}.onnx*"):
                    leftover.unlink(missing_ok=True)
            log.info("exported the embedder to %s", target)
        return cls(target, embedder.has_sentiment)

    def run(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.session.run(None, {"input_ids": ids.numpy().astype(np.int64), "attention_mask": mask.numpy().astype(np.int64)})
        return outputs[0].astype(np.float32), (outputs[1].astype(np.float32) if self.has_sentiment else None)


def export(embedder: TextEmbedder, path: Path) -> None:
    module = PooledEncoder(embedder.model.cpu(), embedder.has_sentiment, getattr(embedder, "_label_order", None)).eval()
    sample = embedder.tokenizer(["an example headline for export", "short"], padding=True, return_tensors="pt")
    outputs = ["embedding", "sentiment"] if embedder.has_sentiment else ["embedding"]
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    axes.update({name: {0: "batch"} for name in outputs})
    with torch.inference_mode():
        torch.onnx.export(
            module,
            (sample["input_ids"], sample["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter handles BERT's dynamic shapes reliably
        )
    embedder.model.to(embedder.device)

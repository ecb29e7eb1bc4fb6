"""Headline embedding throughput on a BERT-base-shaped model (FinBERT's shape and cost: random
weights from a BertConfig, 3-label head, real WordPiece vocabulary; no download).

Prints headlines/s of
  (a) the naive path: the HF model called one headline at a time, fp32;
  (b) the project's embedder as configured for production (precision=auto);
  (c) the project's embedder forced to fp32 (batched, length-sorted), the accuracy reference;
their ratios, and the minimum cosine of (b) against (c).
    .venv/bin/python bench/bench_embed.py [--headlines 2000] [--naive 200]
"""

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPLAY = REPO.parent / "shared" / "data" / "replay"
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stock_assets.news.embedder import TextEmbedder, cosine_rows, cpu_has_native_bf16  # noqa: E402
from stock_assets.news.random_bert import BASE, save_random_bert  # noqa: E402


def replay_headlines(n: int) -> list[str]:
    texts: list[str] = []
    for path in sorted((REPLAY / "news").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            texts.append(json.loads(line)["headline"])
    seen = list(dict.fromkeys(texts))
    step = max(1, len(seen) // n)
    return seen[::step][:n]


def naive_rate(folder: Path, texts: list[str]) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        model(**tokenizer(texts[0], return_tensors="pt"))
        start = time.perf_counter()
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
            out = model(**enc, output_hidden_states=True)
            out.hidden_states[-1].mean(1)
        return len(texts) / (time.perf_counter() - start)


def timed(embedder: TextEmbedder, texts: list[str]):
    embedder.embed(texts[:8])  # warm-up
    start = time.perf_counter()
    out = embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--headlines", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=200, help="headlines timed on the naive path")
    args = parser.parse_args()
    texts = replay_headlines(args.headlines)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_random_bert(Path(tmp) / "bert-base", **BASE)
        naive = naive_rate(folder, texts[: args.naive])
        start = time.perf_counter()
        project = TextEmbedder(str(folder), onnx_dir=Path(tmp) / "onnx")
        setup = time.perf_counter() - start
        fast_rate, fast = timed(project, texts)
        reference = TextEmbedder(str(folder), precision="fp32")
        ref_rate, ref = timed(reference, texts)
    cosine = cosine_rows(fast.vectors, ref.vectors)
    tokens = [len(ids) for ids in project.tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    print(f"model: BERT-base shape (768-d, 12 layers), sentiment head; {len(texts)} replay headlines, "
          f"mean {np.mean(tokens):.1f} tokens; threads {torch.get_num_threads()}; native bf16: {cpu_has_native_bf16()}")
    print(f"(a) naive, one at a time, fp32 ({args.naive} headlines): {naive:8.1f} headlines/s")
    print(f"(b) project embedder, variant {project.variant:>11}: {fast_rate:8.1f} headlines/s  "
          f"({fast_rate / naive:.1f}x naive; first-use setup incl. export {setup:.1f} s)")
    print(f"(c) project embedder, fp32 batched+sorted:   {ref_rate:8.1f} headlines/s  ({ref_rate / naive:.1f}x naive)")
    print(f"cosine of (b) vs fp32: min {cosine.min():.5f}, mean {cosine.mean():.5f}; "
          f"sentiment max abs diff {np.abs(fast.sentiment - ref.sentiment).max():.4f}")


if __name__ == "__main__":
    main()

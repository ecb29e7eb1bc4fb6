"""CPU inference engines for the headline embedder on the BERT-base shape (FinBERT's cost; random
weights, real WordPiece vocabulary, no download): the project's onnxruntime int8 path against
OpenVINO (on the same int8 ONNX graph, and on the fp32 graph with OpenVINO's own precision choice)
and CTranslate2 int8, all fed the same length-sorted batches of the same replay headlines, each
checked against the fp32 reference with the project's guard (min cosine >= 0.999).

    .venv/bin/python bench/bench_embed_engines.py [--headlines 2000]   (needs: pip install openvino ctranslate2)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_embed import replay_headlines  # noqa: E402
from machine import cpu_flags  # noqa: E402
from stock_assets.news.embedder import TextEmbedder, cosine_rows  # noqa: E402
from stock_assets.news.onnx_runtime import export  # noqa: E402
from stock_assets.news.random_bert import BASE, save_random_bert  # noqa: E402

GUARD = 0.999
BATCH = 64



def batches(tokenizer, texts: list[str]) -> list[dict]:
    """Length-sorted batches of BATCH, padded to their longest: the same input for every engine."""
    encoded = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = np.argsort([len(e) for e in encoded], kind="stable")
    out = []
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        width = max(len(encoded[i]) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])], mask[r, : len(encoded[i])] = encoded[i], 1
        out.append({"rows": rows, "input_ids": ids, "attention_mask": mask})
    return out


def timed(run, feeds: list[dict], n: int, dim: int) -> tuple[float, np.ndarray]:
    run(feeds[0])  # warm-up (and compilation)
    vectors = np.zeros((n, dim), np.float32)
    start = time.perf_counter()
    for feed in feeds:
        vectors[feed["rows"]] = run(feed)
    return n / (time.perf_counter() - start), vectors


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headlines", type=int, default=2000)
    args = parser.parse_args()
    texts = replay_headlines(args.headlines)
    threads = torch.get_num_threads()
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = save_random_bert(tmp / "bert-base", **BASE)
        reference = TextEmbedder(str(folder), precision="fp32")
        feeds = batches(reference.tokenizer, texts)
        dim = reference.dim
        ref_rate, ref = timed(lambda f: reference._forward_torch(torch.from_numpy(f["input_ids"]), torch.from_numpy(f["attention_mask"]), autocast=False)[0], feeds, len(texts), dim)
        results["torch fp32 (reference)"] = (ref_rate, 1.0)

        project = TextEmbedder(str(folder), precision="int8", onnx_dir=tmp / "onnx")
        int8_onnx = next((tmp / "onnx").rglob("encoder.int8.onnx"))
        rate, vec = timed(lambda f: project._onnx.run(torch.from_numpy(f["input_ids"]), torch.from_numpy(f["attention_mask"]))[0], feeds, len(texts), dim)
        results["onnxruntime int8 (current path)"] = (rate, float(cosine_rows(vec, ref).min()))

        auto = TextEmbedder(str(folder), onnx_dir=tmp / "onnx")  # what the platform picks on this CPU
        rate, vec = timed(lambda f: auto._forward(torch.from_numpy(f["input_ids"]), torch.from_numpy(f["attention_mask"]))[0], feeds, len(texts), dim)
        results[f"project precision=auto ({auto.variant})"] = (rate, float(cosine_rows(vec, ref).min()))

        fp32_onnx = tmp / "encoder.fp32.onnx"
        export(reference, fp32_onnx)
        try:
            import openvino as ov

            core = ov.Core()
            for name, path, config in (
                ("OpenVINO on the int8 ONNX", int8_onnx, {"INFERENCE_NUM_THREADS": threads}),
                ("OpenVINO fp32 ONNX, f32 precision", fp32_onnx, {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}),
                ("OpenVINO fp32 ONNX, default precision", fp32_onnx, {"INFERENCE_NUM_THREADS": threads}),
            ):
                compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
                request = compiled.create_infer_request()
                rate, vec = timed(lambda f: request.infer({"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]})[compiled.output(0)],
                                  feeds, len(texts), dim)
                precision = compiled.get_property("INFERENCE_PRECISION_HINT")
                results[f"{name} ({precision})"] = (rate, float(cosine_rows(vec, ref).min()))
        except ImportError:
            print("openvino is not installed: pip install openvino")
        try:
            import ctranslate2
            from transformers import BertModel

            encoder_dir = tmp / "bert-encoder"
            encoder_model = BertModel.from_pretrained(folder)
            # CTranslate2's converter still reads this pre-transformers-5 setting (BERT's default).
            encoder_model.config.position_embedding_type = "absolute"
            encoder_model.save_pretrained(encoder_dir)
            reference.tokenizer.save_pretrained(encoder_dir)
            for compute in ("int8", "int8_float32"):
                out = tmp / f"ct2-{compute}"
                ctranslate2.converters.TransformersConverter(str(encoder_dir)).convert(str(out), quantization=compute)
                encoder = ctranslate2.Encoder(str(out), device="cpu", compute_type=compute, intra_threads=threads)

                def ct2(f, encoder=encoder):
                    tokens = [reference.tokenizer.convert_ids_to_tokens(row[row_mask.astype(bool)].tolist())
                              for row, row_mask in zip(f["input_ids"], f["attention_mask"])]
                    hidden = np.array(encoder.forward_batch(tokens).last_hidden_state)
                    return mean_pool(hidden, f["attention_mask"][:, : hidden.shape[1]])

                rate, vec = timed(ct2, feeds, len(texts), dim)
                results[f"CTranslate2 {compute}"] = (rate, float(cosine_rows(vec, ref).min()))
        except ImportError:
            print("ctranslate2 is not installed: pip install ctranslate2")

    tokens = np.mean([len(f["input_ids"][0]) for f in feeds])
    print(f"# BERT-base shape, {len(texts)} replay headlines in batches of {BATCH} (mean padded width {tokens:.1f}); "
          f"{threads} threads; CPU flags: {cpu_flags()}")
    base = results["onnxruntime int8 (current path)"][0]
    for name, (rate, cosine) in results.items():
        verdict = "" if name.startswith("torch") else ("passes" if cosine >= GUARD else "FAILS") + f" the {GUARD} guard"
        print(f"{name:45s} {rate:8.1f} headlines/s  {rate / base:5.2f}x the current path  min cosine {cosine:.5f} {verdict}")


if __name__ == "__main__":
    main()

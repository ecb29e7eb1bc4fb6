"""The embedder on real (small, locally built) models loaded through from_pretrained."""

import numpy as np
import pytest

from stock_assets.news.cache import EmbeddingCache
from stock_assets.news.embedder import EmbedderLoadError, TextEmbedder, cosine_rows, cpu_has_native_bf16, hash_text
from stock_assets.news.random_bert import save_random_bert

HEADLINES = [
    "apple beats earnings estimates",
    "microsoft shares slide after guidance cut , analysts turn cautious on cloud margins",
    "apple beats earnings estimates",
    "fed",
    "amazon to open new warehouses across the midwest as holiday demand surges",
]


def test_sentiment_head_and_mean_pooling(tiny_bert):
    embedder = TextEmbedder(str(tiny_bert), precision="fp32")
    assert embedder.has_sentiment and embedder.dim == 32 and embedder.variant == "torch-fp32"
    out = embedder.embed(HEADLINES)
    assert out.vectors.shape == (5, 32) and out.vectors.dtype == np.float32
    assert np.allclose(out.sentiment.sum(1), 1, atol=1e-5)
    assert np.array_equal(out.vectors[0], out.vectors[2])
    # Batched, length-sorted, padded: equal to each headline run alone (no padding at all).
    alone = np.stack([embedder.embed([h]).vectors[0] for h in HEADLINES])
    assert np.abs(alone - out.vectors).max() < 1e-4
    # the reference: the HF model's last hidden layer averaged over real tokens
    import torch

    enc = embedder.tokenizer(HEADLINES[1], return_tensors="pt")
    with torch.inference_mode():
        hidden = embedder.model(**enc, output_hidden_states=True).hidden_states[-1][0]
    assert np.allclose(hidden.mean(0).numpy(), out.vectors[1], atol=1e-5)


def test_model_without_head_gives_vectors_only(tmp_path):
    embedder = TextEmbedder(str(save_random_bert(tmp_path / "plain", sentiment_head=False)), precision="fp32")
    out = embedder.embed(HEADLINES)
    assert out.sentiment is None and out.vectors.shape == (5, 32)


def test_int8_variant_is_used_only_when_it_matches_fp32(tiny_bert, tmp_path):
    fast = TextEmbedder(str(tiny_bert), precision="int8", onnx_dir=tmp_path / "onnx")
    reference = TextEmbedder(str(tiny_bert), precision="fp32")
    assert fast.variant == "onnx-int8" and fast.model_id.endswith("/onnx-int8")
    # auto: the guarded int8 path when it passes, on every CPU; without an onnx folder, native
    # bf16 where the CPU has it (AVX-512 bf16 / AMX), else fp32
    auto = TextEmbedder(str(tiny_bert), onnx_dir=tmp_path / "onnx")
    assert auto.variant == "onnx-int8"
    assert TextEmbedder(str(tiny_bert)).variant == ("torch-bf16" if cpu_has_native_bf16() else "torch-fp32")
    assert fast.model_id.split("/")[0] == reference.model_id.split("/")[0]  # same weights fingerprint
    a, b = fast.embed(HEADLINES), reference.embed(HEADLINES)
    assert cosine_rows(a.vectors, b.vectors).min() >= 0.999
    assert np.abs(a.sentiment - b.sentiment).max() < 0.01
    assert list((tmp_path / "onnx").rglob("*.onnx")) == [tmp_path / "onnx" / fast.fingerprint / "encoder.int8.onnx"]


def test_different_weights_never_share_an_id(tmp_path):
    one = TextEmbedder(str(save_random_bert(tmp_path / "m", seed=1)), precision="fp32")
    two = TextEmbedder(str(save_random_bert(tmp_path / "m", seed=2)), precision="fp32")
    assert one.model_id != two.model_id


def test_unloadable_finbert_says_how_to_fix(tmp_path):
    with pytest.raises(EmbedderLoadError) as err:
        TextEmbedder("ProsusAI/finbert", cache_dir=tmp_path / "hf")
    text = str(err.value)
    assert "huggingface-cli download ProsusAI/finbert" in text
    assert "STOCK_EMBEDDER=minilm" in text and "local model folder" in text


def test_offline_minilm_gives_semantic_neighbours():
    embedder = TextEmbedder("minilm", precision="fp32")
    assert embedder.dim == 384 and not embedder.has_sentiment
    v = embedder.embed([
        "Apple shares jump after record iPhone sales",
        "Record iPhone sales send Apple stock higher",
        "Heavy rain expected across the region this weekend",
    ]).vectors
    paraphrase = cosine_rows(v[[0]], v[[1]])[0]
    unrelated = cosine_rows(v[[0]], v[[2]])[0]
    assert paraphrase > 0.7 and unrelated < 0.3 and paraphrase - unrelated > 0.5


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put("m/v", [hash_text("a"), hash_text("b")], vectors, None)
    got = cache.get("m/v", [hash_text("b"), hash_text("zzz")])
    assert list(got) == [hash_text("b")] and np.array_equal(got[hash_text("b")][0], vectors[1])
    assert cache.get("other-model", [hash_text("a")]) == {}

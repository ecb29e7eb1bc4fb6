"""Randomly initialised BERT models saved like a hub model, for tests and benchmarks.

They load through the same `from_pretrained` path as FinBERT and cost the same to run for the
same shape, with no download: the WordPiece vocabulary is the real uncased BERT one shipped
with the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stock_assets.news.embedder import MINILM, SENTIMENT_LABELS, resolve_model_source

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)


def save_random_bert(folder: str | Path, sentiment_head: bool = True, seed: int = 0, **shape) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    folder = Path(folder)
    vocab = Path(resolve_model_source(MINILM)) / "vocab.txt"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512, **(shape or TINY))
    torch.manual_seed(seed)
    if sentiment_head:  # FinBERT's head: 3 labels in FinBERT's order
        config.num_labels = 3
        config.id2label = dict(enumerate(SENTIMENT_LABELS))
        config.label2id = {v: k for k, v in config.id2label.items()}
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config, add_pooling_layer=False)
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

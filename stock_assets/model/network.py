"""The news-aware forecaster (the seed's architecture), with normalization inside the module.

price (raw closes [B, 30, 1]) -> relative to the last close -> Linear(1 -> d) + learnable
positions -> TransformerEncoder -> cross-attention (prices attend to the projected news
[B, 30, D] -> d) -> MLP head d -> 128 -> 5 relative changes -> closes (last close x (1 + change)).
Scaling all prices scales the forecast; any finite input gives a finite output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

WINDOW, HORIZON = 30, 5


@dataclass(frozen=True)
class ModelConfig:
    news_dim: int = 768
    d_model: int = 256
    heads: int = 8
    layers: int = 4
    feedforward: int = 1024
    dropout: float = 0.1
    use_news: bool = True
    window: int = WINDOW
    horizon: int = HORIZON

    def to_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "base": dict(d_model=256, heads=8, layers=4, feedforward=1024),  # the seed's model
    "small": dict(d_model=64, heads=4, layers=2, feedforward=128),
    "tiny": dict(d_model=16, heads=2, layers=1, feedforward=32),
}


class StockPredictor(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.price_embedding = nn.Linear(1, d)
        self.positional = nn.Parameter(torch.randn(1, config.window, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, config.heads, config.feedforward, config.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        if config.use_news:  # the price-only ablation has no news parameters at all
            self.news_projection = nn.Linear(config.news_dim, d)
            self.cross_attention = nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
            self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, config.horizon))

    def relative_changes(self, price: torch.Tensor, news: torch.Tensor) -> torch.Tensor:
        """[B, 5] predicted close / last close - 1."""
        last = price[:, -1:, :]
        scale = torch.where(last.abs() > 1e-6, last, torch.full_like(last, 1e-6))
        relative = torch.nan_to_num(price / scale - 1.0, nan=0.0, posinf=10.0, neginf=-10.0).clamp(-10.0, 10.0)
        hidden = self.encoder(self.price_embedding(relative) + self.positional)
        if self.config.use_news:
            news = torch.nan_to_num(news.to(hidden.dtype)).clamp(-1e4, 1e4)
            keys = self.news_projection(news) + self.positional
            attended, _ = self.cross_attention(hidden, keys, keys, need_weights=False)
            hidden = self.norm(hidden + attended)
        return self.head(hidden[:, -1]).clamp(-0.9, 10.0)

    def forward(self, price: torch.Tensor, news: torch.Tensor) -> torch.Tensor:
        """Raw closes in, the next 5 closes out."""
        last = price[:, -1, :]
        out = last * (1.0 + self.relative_changes(price, news))
        return torch.nan_to_num(out, nan=0.0, posinf=3.0e38, neginf=-3.0e38)


def build_model(size: str = "base", news_dim: int = 768, use_news: bool = True, dropout: float = 0.1) -> StockPredictor:
    if size not in SIZES:
        raise ValueError(f"model size {size!r} is not one of {sorted(SIZES)}")
    return StockPredictor(ModelConfig(news_dim=news_dim, use_news=use_news, dropout=dropout, **SIZES[size]))

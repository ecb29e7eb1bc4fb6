"""The news-aware forecaster (the seed's architecture family), with everything the served
forecast needs inside the module, so the exported graph is the whole model.

raw closes [B, 30, 1] -> daily log-returns in units of the window's volatility -> price
embedding Linear(1 -> d) (+ derived features: 5-day volatility, level against the last close,
the window's volatility level) + learnable positions -> TransformerEncoder -> cross-attention
to the projected news [B, 30, D] (days without news masked; no news at all = the price path)
-> MLP head d -> 128 -> 5 predicted log-returns (in volatility units) relative to the last close,
plus a bias-free linear path on the window's past returns over 1, 5, 10, 20 and 29 days (in
volatility units): the short-term reversal that a 5-day forecast of large caps can use.

Why it is shaped like this (issue: the forecast must never be worse than the random walk):
- the last layer of the head and the linear path are zero-initialised and the output is a
  return, so an untrained model is exactly the random walk (the last close repeated);
- the model is trained on returns net of the training period's drift (train.py) and serves no
  drift: extrapolating a bull market's trend costs skill when the market turns flat;
- `shrinkage` (one factor per horizon, fitted on validation after training, 0 until then)
  scales the predicted returns, so a model without validation skill serves the random walk;
- `news_weight` (1) can switch the news path off in the graph; whether news is served is decided
  at the gate instead, between this network and the separately trained price-only one, on windows
  neither used (stock_assets/export/gate.py); checkpoints from before that carry 0 when news lost;
- the 10/50/90 % quantiles are the historical-volatility band (z * sigma * sqrt(h)) with
  learned log-width corrections (zero-initialised) and per-horizon calibration factors
  (`interval_scale`, fitted on validation). They are ordered by construction.
- `sentiment` (off in every served model: it has not shown evidence, bench/sentiment_ablation.py)
  adds each day's headline tone to the per-day input and a zero-initialised linear path on the
  last day's tone and the mean tone of the last 5 days; its 2 channels ride after the news vector
  columns of the news input ([B, 30, D + 2]), which is not the served contract.
Scaling all prices scales every output; any finite input gives a finite output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

WINDOW, HORIZON = 30, 5
QUANTILES = (0.1, 0.5, 0.9)
Z90 = 1.2815516  # standard normal quantile at 0.9: the volatility band's half-width in sigmas
MAX_SIGMAS = 3.0  # a predicted move is bounded by 3 window sigmas (soft, via tanh)
MIN_SIGMA, MAX_SIGMA = 1e-3, 0.5  # daily log-return volatility floor and ceiling
TYPICAL_SIGMA = 0.015
FEATURES = 3  # derived per-day features besides the return itself
LOOKBACKS = (1, 5, 10, 20, 29)  # the linear path's past-return spans, in sessions
SENTIMENT_CHANNELS = 2  # per day: the tone of its headlines (0 without) and 1 where there were any
MASKED = -1e4  # additive attention bias for days without news (finite: no NaN when all are masked)


@dataclass(frozen=True)
class ModelConfig:
    news_dim: int = 768
    d_model: int = 256
    heads: int = 8
    layers: int = 4
    feedforward: int = 1024
    dropout: float = 0.1
    use_news: bool = True
    sentiment: bool = False
    window: int = WINDOW
    horizon: int = HORIZON

    def to_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "base": dict(d_model=256, heads=8, layers=4, feedforward=1024),  # the seed's model
    "small": dict(d_model=64, heads=4, layers=2, feedforward=128),
    "tiny": dict(d_model=16, heads=2, layers=1, feedforward=32),
}


@dataclass
class Outputs:
    """Everything in log-return space relative to the last close, [B, 5] each."""

    mean: torch.Tensor  # raw (unshrunk) predicted log-returns
    lower: torch.Tensor  # raw width below the median (>= 0), before calibration
    upper: torch.Tensor  # raw width above the median (>= 0)
    last: torch.Tensor  # [B, 1] the last close


def price_features(price: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """price [B, T, 1] -> (returns in sigma units [B, T, 1], features [B, T, FEATURES], sigma [B, 1]).

    Everything is relative to the last close, so the scale of the prices does not matter."""
    last = price[:, -1:, :]
    scale = torch.where(last.abs() > 1e-12, last, torch.full_like(last, 1e-12))
    relative = torch.nan_to_num(price / scale, nan=1.0, posinf=1e6, neginf=1e-6).clamp(1e-6, 1e6)
    level = torch.log(relative)  # log(close / last close), 0 on the last day
    returns = torch.cat([torch.zeros_like(level[:, :1]), level[:, 1:] - level[:, :-1]], dim=1)
    sigma = torch.sqrt((returns[:, 1:] ** 2).mean(dim=1) + MIN_SIGMA**2).clamp(MIN_SIGMA, MAX_SIGMA)  # [B, 1]
    z = (returns / sigma[:, None, :]).clamp(-10.0, 10.0)
    # 5-day rolling volatility (causal: zero-padded at the start), in window-sigma units
    padded = torch.cat([torch.zeros_like(z[:, :4]), z], dim=1)
    rolling = torch.sqrt(sum(padded[:, i : i + z.shape[1]] ** 2 for i in range(5)) / 5.0 + 1e-6)
    distance = (level / (sigma[:, None, :] * math.sqrt(z.shape[1]))).clamp(-10.0, 10.0)
    regime = (torch.log(sigma) - math.log(TYPICAL_SIGMA))[:, None, :].expand_as(z)
    return z, torch.cat([rolling, distance, regime], dim=-1), sigma


def past_returns(z: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """z [B, window, 1] daily returns in sigma units -> [B, len(LOOKBACKS)]: the return over
    each lookback up to the last close, divided by sqrt(span) (unit variance under a random walk).
    `window` is the configured length, a constant of the exported graph."""
    spans = [min(k, window - 1) for k in LOOKBACKS]
    return torch.cat([z[:, window - k :, 0].sum(dim=1, keepdim=True) / math.sqrt(k) for k in spans], dim=1)


def recent_tone(channels: torch.Tensor) -> torch.Tensor:
    """channels [B, T, 2] (tone, present) -> [B, 2]: the last day's tone and the mean tone of the
    last 5 days that had headlines (0 without any)."""
    tone, present = channels[..., 0], channels[..., 1]
    recent = (tone[:, -5:] * present[:, -5:]).sum(dim=1) / present[:, -5:].sum(dim=1).clamp_min(1.0)
    return torch.stack([tone[:, -1], recent], dim=1)


def has_news(news: torch.Tensor) -> torch.Tensor:
    """[B, T] True where the day has a news vector (the panel stores zeros for days without)."""
    return torch.nan_to_num(news).abs().amax(dim=-1) > 0


class StockPredictor(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d, h = config.d_model, config.horizon
        self.price_embedding = nn.Linear(1, d)
        self.feature_embedding = nn.Linear(FEATURES, d)
        self.positional = nn.Parameter(torch.randn(1, config.window, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, config.heads, config.feedforward, config.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        if config.use_news:  # the price-only ablation has no news parameters at all
            self.news_projection = nn.Linear(config.news_dim, d)
            self.news_norm = nn.LayerNorm(d)
            self.cross_attention = nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
            self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, h))
        if config.sentiment:
            self.sentiment_embedding = nn.Linear(SENTIMENT_CHANNELS, d)
            self.sentiment_path = nn.Linear(2, h, bias=False)  # on recent_tone: last day's, 5-day mean
            nn.init.zeros_(self.sentiment_path.weight)  # untrained = the price network
        # No bias: a constant here would be a drift, which the model must not extrapolate.
        self.reversal = nn.Linear(len(LOOKBACKS), h, bias=False)
        self.interval_head = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 2 * h))
        for last_layer in (self.head[-1], self.reversal, self.interval_head[-1]):  # untrained = random walk + volatility band
            nn.init.zeros_(last_layer.weight)
            if last_layer.bias is not None:
                nn.init.zeros_(last_layer.bias)
        # Fitted on validation after training (train.fit_calibration); part of the exported graph.
        self.register_buffer("shrinkage", torch.zeros(h))
        self.register_buffer("interval_scale", torch.ones(2, h))
        # 1: the news path is on; 0: the served graph ignores news (it did not help on validation)
        self.register_buffer("news_weight", torch.ones(()))

    def components(self, price: torch.Tensor, news: torch.Tensor) -> Outputs:
        """The raw outputs that training optimises (no shrinkage, no calibration)."""
        price = price.to(self.price_embedding.weight.dtype)
        z, features, sigma = price_features(price)
        inputs = self.price_embedding(z) + self.feature_embedding(features) + self.positional
        if self.config.sentiment:
            channels = torch.nan_to_num(news[..., -SENTIMENT_CHANNELS:].to(inputs.dtype)).clamp(-1.0, 1.0)
            news = news[..., :-SENTIMENT_CHANNELS]
            inputs = inputs + self.sentiment_embedding(channels)
        hidden = self.encoder(inputs)
        if self.config.use_news:
            present = has_news(news)  # [B, T]
            news = torch.nan_to_num(news.to(hidden.dtype)).clamp(-1e4, 1e4)
            keys = self.news_norm(self.news_projection(news)) + self.positional
            bias = torch.where(present, torch.zeros_like(present, dtype=hidden.dtype), torch.full_like(present, MASKED, dtype=hidden.dtype))
            attended, _ = self.cross_attention(hidden, keys, keys, key_padding_mask=bias, need_weights=False)
            # a window without any news takes exactly the price-only path
            any_news = present.any(dim=1).to(hidden.dtype)[:, None, None]
            hidden = hidden + self.news_weight * any_news * self.norm(attended)
        summary = hidden[:, -1]
        steps = torch.arange(1, self.config.horizon + 1, dtype=sigma.dtype, device=sigma.device)
        move = self.head(summary) + self.reversal(past_returns(z, self.config.window))  # in window sigmas
        if self.config.sentiment:
            move = move + self.sentiment_path(recent_tone(channels))
        mean = MAX_SIGMAS * torch.tanh(move / MAX_SIGMAS) * sigma
        widths = torch.exp(self.interval_head(summary).clamp(-3.0, 3.0)).view(-1, 2, self.config.horizon)
        band = Z90 * sigma * torch.sqrt(steps)
        return Outputs(mean=mean, lower=widths[:, 0] * band, upper=widths[:, 1] * band, last=price[:, -1, :])

    def served_log_returns(self, out: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(point [B, 5], quantiles [B, 5, 3]) in log-returns, shrunk and calibrated."""
        point = self.shrinkage * out.mean
        low = point - self.interval_scale[0] * out.lower
        high = point + self.interval_scale[1] * out.upper
        return point, torch.stack([low, point, high], dim=-1)

    def forward(self, price: torch.Tensor, news: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw closes in; the next 5 closes [B, 5] and their 10/50/90 % quantiles [B, 5, 3] out."""
        out = self.components(price, news)
        point, quantiles = self.served_log_returns(out)
        if not self.config.use_news:  # ignored, but kept as a graph input: the served contract has news_input
            point = point + 0.0 * torch.nan_to_num(news[:, :1, 0].to(point.dtype), nan=0.0, posinf=0.0, neginf=0.0)
        forecast = out.last * torch.exp(point)
        bands = out.last[:, :, None] * torch.exp(quantiles)
        limit = 3.0e38
        return torch.nan_to_num(forecast, nan=0.0, posinf=limit, neginf=-limit), torch.nan_to_num(bands, nan=0.0, posinf=limit, neginf=-limit)


def build_model(size: str = "base", news_dim: int = 768, use_news: bool = True, dropout: float = 0.1, sentiment: bool = False) -> StockPredictor:
    if size not in SIZES:
        raise ValueError(f"model size {size!r} is not one of {sorted(SIZES)}")
    return StockPredictor(ModelConfig(news_dim=news_dim, use_news=use_news, dropout=dropout, sentiment=sentiment, **SIZES[size]))

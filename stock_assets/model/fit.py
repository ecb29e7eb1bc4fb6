"""What training computes on windows besides the optimizer step: the loss, passes over a split
(raw outputs, validation loss), the training drift, the calibration of the best weights on
validation and their evaluation against the baselines. Pure PyTorch/NumPy (training pods)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from stock_assets.model.calibration import fit_interval_scale, fit_shrinkage
from stock_assets.model.metrics import evaluate
from stock_assets.model.network import Outputs, StockPredictor, price_features
from stock_assets.model.panel import WindowDataset


def training_loss(out: Outputs, target: torch.Tensor, drift: float = 0.0) -> torch.Tensor:
    """MAE of the predicted 5-day log-returns plus the pinball loss of the 10 % and 90 %
    quantiles, in percent: robust to fat tails, scale-free across symbols, and the MAE term is
    the evaluation's own measure (q50 is the point forecast). The targets are net of the
    training period's daily drift (x h): the network learns moves around the trend, not the
    trend, which a forecast cannot carry into a market that turned (the drift baseline loses
    to the random walk out of sample)."""
    steps = torch.arange(1, target.shape[1] + 1, dtype=target.dtype, device=target.device)
    actual = (torch.log(target.clamp_min(1e-12) / out.last.clamp_min(1e-12)) - drift * steps) * 100.0
    mean, lower, upper = out.mean * 100.0, out.lower * 100.0, out.upper * 100.0
    low_error = actual - (mean - lower)
    high_error = actual - (mean + upper)
    pinball = torch.maximum(0.1 * low_error, -0.9 * low_error) + torch.maximum(0.9 * high_error, -0.1 * high_error)
    return (actual - mean).abs().mean() + pinball.mean()


class RawOutputs(torch.nn.Module):
    """DDP wraps forward(); training needs the raw components, so route them through forward."""

    def __init__(self, model: StockPredictor):
        super().__init__()
        self.model = model

    def forward(self, price, news):
        return self.model.components(price, news)


@torch.no_grad()
def collect(model: StockPredictor, dataset: WindowDataset, batch_size: int = 512) -> dict[str, np.ndarray]:
    """Raw outputs, actual log-returns, window volatility and end sessions of every window."""
    model.eval()
    parts: dict[str, list] = {k: [] for k in ("mean", "lower", "upper", "actual", "sigma")}
    for price, news, target in DataLoader(dataset, batch_size=batch_size):
        out = model.components(price, news)
        parts["mean"].append(out.mean)
        parts["lower"].append(out.lower)
        parts["upper"].append(out.upper)
        parts["actual"].append(torch.log(target / out.last))
        parts["sigma"].append(price_features(price)[2][:, 0])
    h = model.config.horizon
    arrays = {k: torch.cat(v).double().numpy() if v else np.zeros((0, h)) for k, v in parts.items()}
    if not parts["sigma"]:
        arrays["sigma"] = np.zeros(0)
    arrays["end"] = dataset.panel.sessions[dataset.end] if len(dataset) else np.zeros(0, "datetime64[D]")
    arrays["symbol"] = dataset.symbol.copy()
    return arrays


def served(model: StockPredictor, raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The served log-returns (shrunk point, calibrated quantiles) from collected raw outputs,
    through the network's own code."""
    outputs = Outputs(*(torch.from_numpy(raw[k]) for k in ("mean", "lower", "upper")), last=None)
    with torch.no_grad():
        point, quantiles = model.double().served_log_returns(outputs)
    model.float()
    return point.numpy(), quantiles.numpy()


def validation_loss(model: StockPredictor, dataset: WindowDataset, drift: float = 0.0) -> float:
    if not len(dataset):
        return float("nan")
    model.eval()
    total = 0.0
    with torch.no_grad():
        for price, news, target in DataLoader(dataset, batch_size=512):
            total += float(training_loss(model.components(price, news), target, drift)) * len(target)
    return total / len(dataset)


def train_drift(panel) -> float:
    """Mean daily log-return over the training period (the drift baseline's daily step)."""
    cut = np.datetime64(panel.meta["validation_start"])
    close = panel.close[panel.sessions < cut]
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = np.log(close[1:] / close[:-1])
    return float(np.nanmean(daily)) if np.isfinite(daily).any() else 0.0


def calibrate(model: StockPredictor, val_set: WindowDataset) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit on the validation windows, into the buffers: the shrinkage and the interval scale.
    Returns (the calibration record, the validation outputs of the graph as calibrated). Whether
    the news network is served at all is the gate's decision, on windows this fit never saw."""
    validation = collect(model, val_set)
    alpha = fit_shrinkage(validation["mean"], validation["actual"], validation["end"])
    model.shrinkage.copy_(torch.from_numpy(alpha))
    point = alpha[None, :] * validation["mean"]
    scale = fit_interval_scale(point, validation["lower"], validation["upper"], validation["actual"])
    model.interval_scale.copy_(torch.from_numpy(scale))
    record = dict(shrinkage=[round(float(a), 3) for a in alpha], interval_scale=[[round(float(x), 3) for x in row] for row in scale],
                  validation_windows=int(len(validation["actual"])))
    return record, validation


def evaluation(model: StockPredictor, raw: dict[str, np.ndarray], drift: float) -> dict:
    point, quantiles = served(model, raw)
    return evaluate(point, quantiles, raw["actual"], raw["sigma"], raw["end"], drift) if len(point) else {}

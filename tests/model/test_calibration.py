"""Shrinkage and interval calibration: fitted on validation, and what they do to the served
forecast, from the fit alone and through the real training entry point on synthetic panels
(no signal: the random walk is served; a planted signal: it is kept and has skill)."""

import numpy as np
import pytest

from stock_assets.model import train
from stock_assets.model.calibration import fit_interval_scale, fit_shrinkage, news_earns_its_place
from stock_assets.model.checkpoints import BEST, load_checkpoint
from stock_assets.model.metrics import coverage, diebold_mariano
from stock_assets.model.panel import Panel, index_windows, save_panel


def test_shrinkage_is_zero_without_skill_and_large_with_it():
    rng = np.random.default_rng(0)
    actual = rng.standard_normal((4000, 5)) * 0.02
    unrelated = rng.standard_normal((4000, 5)) * 0.02
    assert fit_shrinkage(unrelated, actual).max() <= 0.1
    informative = actual + rng.standard_normal((4000, 5)) * 0.01
    assert fit_shrinkage(informative, actual).min() > 0.5
    assert fit_shrinkage(np.zeros((0, 5)), np.zeros((0, 5))).tolist() == [0.0] * 5


def test_news_is_kept_only_when_it_lowers_the_validation_loss_with_confidence():
    rng = np.random.default_rng(5)
    days = np.repeat(np.arange(60), 80)
    without = np.abs(rng.standard_normal(len(days)))
    same_but_noisy = without + rng.standard_normal(len(days)) * 0.05
    assert news_earns_its_place(same_but_noisy, without, days)[0] is False
    assert news_earns_its_place(without * 1.01, without, days) == (False, 0.0)  # news hurts
    keep, share = news_earns_its_place(without * 0.97, without, days)
    assert keep and share == 1.0
    assert news_earns_its_place(np.zeros(0), np.zeros(0), np.zeros(0)) == (False, 0.0)


def test_conformal_scale_gives_80_percent_coverage_on_fresh_data():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.005, 0.04, (6000, 1)) * np.sqrt(np.arange(1, 6))
    actual = rng.standard_t(4, (6000, 5)) * sigma
    width = 0.5 * sigma  # a badly scaled band: far too narrow
    point = np.zeros_like(actual)
    scale = fit_interval_scale(point[:3000], width[:3000], width[:3000], actual[:3000], weight=1.0)
    band = np.stack([point - scale[0] * width, point, point + scale[1] * width], axis=-1)[3000:]
    assert 0.77 <= coverage(band, actual[3000:]) <= 0.83
    # the default goes half-way (geometrically) from the trained widths to the conformal factor
    half = fit_interval_scale(point[:3000], width[:3000], width[:3000], actual[:3000])
    np.testing.assert_allclose(half, np.sqrt(scale), rtol=1e-5)
    assert (half > 1.0).all() and (half < scale).all()


def test_diebold_mariano_sees_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(2)
    dates = np.repeat(np.arange(300), 10)
    base = np.abs(rng.standard_normal(3000))
    assert diebold_mariano(base, base + 0.0, dates)["p_value"] == 1.0
    assert diebold_mariano(base * 0.8, base, dates)["p_value"] < 0.01
    noise = np.abs(rng.standard_normal(3000))
    assert diebold_mariano(noise, base, dates)["p_value"] > 0.01


def synthetic_panel(root, phi: float, seed: int, symbols: int = 6, sessions: int = 700):
    """AR(1) daily log-returns (phi = 0: a random walk, no signal), no news."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((sessions, symbols)) * rng.uniform(0.01, 0.02, symbols)
    returns = np.zeros_like(shocks)
    for t in range(1, sessions):
        returns[t] = phi * returns[t - 1] + shocks[t]
    close = (50 * np.exp(np.cumsum(returns, axis=0))).astype(np.float32)
    days = np.busday_offset("2012-01-02", np.arange(sessions), roll="forward")
    windows = index_windows(close, days, str(days[int(sessions * 0.6)]), str(days[int(sessions * 0.8)]))
    meta = {"news_dim": 8, "watermark": str(days[-1]), "validation_start": str(days[int(sessions * 0.6)]),
            "test_start": str(days[int(sessions * 0.8)])}
    panel = Panel(days, [f"S{i}" for i in range(symbols)], close, np.full(close.shape, -1, np.int32),
                  np.zeros(close.shape, np.int16), np.zeros((0, 8), np.float16), windows, meta)
    save_panel(root, panel)


def trained(tmp_path, phi: float, seed: int) -> dict:
    synthetic_panel(tmp_path / "panel", phi, seed)
    train.main(["--panel", str(tmp_path / "panel"), "--checkpoints", str(tmp_path / "ckpt"), "--size", "tiny",
                "--epochs", "6", "--patience", "6", "--batch-size", "64", "--lr", "3e-3", "--seed", "0"])
    return load_checkpoint(tmp_path / "ckpt" / BEST)


@pytest.mark.slow
def test_no_signal_serves_the_random_walk(tmp_path):
    state = trained(tmp_path, phi=0.0, seed=3)
    alpha = np.array(state["calibration"]["shrinkage"])
    point = state["test_predictions"]["point"]
    actual = state["test_predictions"]["actual"]
    assert alpha.mean() < 0.35
    assert np.abs(point).mean() < 0.1 * np.abs(actual).mean()  # ~ the last close repeated
    assert abs(state["metrics"]["model"]["skill"]) < 0.01


@pytest.mark.slow
def test_a_planted_signal_is_kept_and_has_skill(tmp_path):
    state = trained(tmp_path, phi=0.5, seed=4)
    alpha = np.array(state["calibration"]["shrinkage"])
    model = state["metrics"]["model"]
    assert alpha.mean() > 0.5
    assert model["skill"] > 0.03 and model["dm_vs_random_walk"]["p_value"] < 0.05
    assert 0.7 <= model["coverage_80"] <= 0.9
    assert model["pinball"] < state["metrics"]["volatility_band"]["pinball"]

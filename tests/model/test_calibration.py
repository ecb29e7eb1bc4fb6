"""Shrinkage and interval calibration: fitted on validation, and what they do to the served
forecast, from the fit alone and through the real training entry point on synthetic panels
(no signal: the random walk is served; a planted signal: it is kept and has skill)."""

import numpy as np
import pytest

from stock_assets.model import train
from stock_assets.model.calibration import CONFORMAL_WEIGHT, fit_interval_scale, fit_shrinkage
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


def test_the_shipped_interval_rule_covers_80_percent_when_volatility_half_reverts():
    # The data the rule is built for: the network's widths are right for the long run (1.28 sigma),
    # the validation quarter is 1.69x as volatile, and the next quarter half-way back (1.3x, in
    # log terms) - a volatility regime persists only in part. Full conformal scaling over-corrects,
    # none under-corrects; the shipped half-way rule (CONFORMAL_WEIGHT) covers 80 %.
    assert CONFORMAL_WEIGHT == 0.5
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.005, 0.04, (8000, 1)) * np.sqrt(np.arange(1, 6))
    width = 1.2816 * sigma
    validation, test = slice(0, 4000), slice(4000, 8000)
    actual = rng.standard_normal((8000, 5)) * sigma
    actual[validation] *= 1.69
    actual[test] *= 1.3
    point = np.zeros_like(actual)

    def scale(weight: float) -> np.ndarray:
        return fit_interval_scale(point[validation], width[validation], width[validation], actual[validation], weight=weight)

    def covered(weight: float) -> float:
        s = scale(weight)
        band = np.stack([point - s[0] * width, point, point + s[1] * width], axis=-1)[test]
        return coverage(band, actual[test])

    assert 0.77 <= covered(CONFORMAL_WEIGHT) <= 0.83
    assert covered(1.0) > 0.86 and covered(0.0) < 0.7
    # the shipped scale is the conformal factor taken half-way (geometrically) to 1
    np.testing.assert_allclose(fit_interval_scale(point[validation], width[validation], width[validation], actual[validation]),
                               np.sqrt(scale(1.0)), rtol=1e-5)


def test_conformal_scale_gives_80_percent_coverage_on_exchangeable_data():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.005, 0.04, (6000, 1)) * np.sqrt(np.arange(1, 6))
    actual = rng.standard_t(4, (6000, 5)) * sigma
    width = 0.5 * sigma  # a badly scaled band: far too narrow
    point = np.zeros_like(actual)
    scale = fit_interval_scale(point[:3000], width[:3000], width[:3000], actual[:3000], weight=1.0)
    band = np.stack([point - scale[0] * width, point, point + scale[1] * width], axis=-1)[3000:]
    assert 0.77 <= coverage(band, actual[3000:]) <= 0.83


def test_diebold_mariano_sees_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(2)
    dates = np.repeat(np.arange(300), 10)
    base = np.abs(rng.standard_normal(3000))
    assert diebold_mariano(base, base + 0.0, dates)["p_value"] == 1.0
    better = diebold_mariano(base * 0.8, base, dates)
    assert better["p_value"] < 0.01 and better["p_a_better"] < 0.005 and better["statistic"] < 0 and better["days"] == 300
    noise = np.abs(rng.standard_normal(3000))
    assert diebold_mariano(noise, base, dates)["p_value"] > 0.01
    assert np.isnan(diebold_mariano(base[:90], base[:90], dates[:90])["p_value"])  # 9 days < 2 horizons: no test


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

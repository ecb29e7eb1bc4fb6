"""The gate's rule: news is served only when it beats the random walk and the price-only network
significantly; a challenger replaces the served version unless significantly worse on the same
windows; identical forecasts are not published again; windows a candidate was fitted on are refused."""

import numpy as np
import pandas as pd

from stock_assets.export.gate import NEWS, PRICE, RANDOM_WALK, Forecasts, choose, judge, p_better, scores_of, unseen_windows
from stock_assets.model.panel import Panel

DAYS = np.repeat(np.arange("2015-01-02", "2015-04-01", dtype="datetime64[D]"), 20)
ACTUAL = np.random.default_rng(0).normal(0, 0.02, (len(DAYS), 5))


def forecast(quality: float, noise: float = 0.001, seed: int = 1) -> Forecasts:
    """`quality` of the way from the random walk to the truth, plus noise of its own."""
    point = quality * ACTUAL + np.random.default_rng(seed).normal(0, noise, ACTUAL.shape)
    return Forecasts(point, np.stack([point - 0.03, point, point + 0.03], -1), ACTUAL, DAYS)


def test_the_p_value_tells_a_planted_signal_from_noise():
    rw = forecast(0.0, noise=0.0)
    assert p_better(forecast(0.3), rw) < 0.001  # a real signal
    assert p_better(forecast(0.0), rw) > 0.05  # moves without information
    assert p_better(rw, rw) == 1.0  # the random walk itself
    s = scores_of(forecast(0.3))
    assert s.skill > 0.25 and s.p_value < 0.001 and s.windows == len(DAYS)


def test_one_rule_chooses_news_price_only_or_the_random_walk():
    assert choose(forecast(0.4), forecast(0.1, seed=2), 0.05)[0] == NEWS
    network, reason = choose(forecast(0.3), forecast(0.3, seed=2), 0.05)  # news no better than price-only
    assert network == PRICE and "news did not earn its place" in reason
    assert choose(forecast(0.0), forecast(0.0, seed=2), 0.05)[0] == RANDOM_WALK
    assert choose(forecast(-0.2), forecast(-0.2, seed=2), 0.05)[0] == RANDOM_WALK  # worse than the random walk
    assert choose(forecast(0.3), None, 0.05)[0] == NEWS  # no ablation: news against the random walk only


def test_the_champion_is_kept_only_when_significantly_better():
    good = forecast(0.3)
    publish, unchanged, reason = judge(forecast(0.0, noise=0.0), good, 4, 0.05)
    assert not publish and not unchanged and reason.startswith("kept version 4: the challenger is significantly worse")
    assert judge(forecast(0.3, seed=3), good, 4, 0.05)[0]  # as good: the newer model replaces it
    assert judge(good, forecast(0.0, noise=0.0), 4, 0.05)[0]
    assert judge(good, None, None, 0.05) == (True, False, "no comparable served version")


def test_identical_forecasts_are_not_published_again():
    a = forecast(0.2)
    b = Forecasts(a.point + 1e-8, a.band + 1e-8, a.actual, a.days)
    publish, unchanged, reason = judge(b, a, 7, 0.05)
    assert not publish and unchanged and "unchanged" in reason
    wider = Forecasts(a.point, a.band * 1.1, a.actual, a.days)  # same point, a recalibrated band: a real change
    assert judge(wider, a, 7, 0.05)[:2] == (True, False)


def test_windows_whose_days_a_candidate_was_fitted_on_are_refused():
    sessions = pd.bdate_range("2015-01-01", periods=120).values.astype("datetime64[D]")
    panel = Panel(sessions, ["A"], np.ones((120, 1)), None, None, None, {}, {})
    ends = np.arange(60, 80)  # window inputs start at session 31
    clean, said = unseen_windows(panel, ends, {NEWS: str(sessions[20]), PRICE: str(sessions[25])})
    assert clean and "after every fitted day" in said
    clean, said = unseen_windows(panel, ends, {NEWS: str(sessions[20]), PRICE: str(sessions[40])})
    assert not clean and said.startswith("refused: 10 of 20 gate windows") and "price-only network up to" in said
    assert unseen_windows(panel, np.zeros(0, int), {NEWS: None}) == (
        False, "no test-split windows to judge on: materialize more history (the gate never scores fitted windows)")

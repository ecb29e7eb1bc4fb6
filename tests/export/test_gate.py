"""The gate's evidence rule: a forecast moves away from the last close only when its gain over
the random walk on the gate windows is significant."""

import numpy as np

from stock_assets.export.gate import Scores, better_than_random_walk_p, random_walk_reason, scores_of

DAYS = np.repeat(np.arange("2015-01-02", "2015-04-01", dtype="datetime64[D]"), 20)


def returns(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.02, (len(DAYS), 5))


def scored(skill: float, p: float, calls: float | None = 0.5) -> Scores:
    return Scores(skill=skill, mae=0.02, mae_random_walk=0.02, coverage_80=0.8, direction_accuracy=calls, windows=100,
                  first_day="2015-01-02", last_day="2015-03-31", p_value=p)


def test_the_p_value_tells_a_planted_signal_from_noise():
    actual = returns()
    assert better_than_random_walk_p(0.3 * actual, actual, DAYS) < 0.001  # a real signal
    noise = np.random.default_rng(1).normal(0, 0.001, actual.shape)
    assert better_than_random_walk_p(noise, actual, DAYS) > 0.05  # moves without information
    assert better_than_random_walk_p(np.zeros_like(actual), actual, DAYS) == 1.0  # the random walk itself
    s = scores_of(0.3 * actual, np.stack([actual * 0.3 - 0.03, actual * 0.3, actual * 0.3 + 0.03], -1), actual, DAYS)
    assert s.skill > 0.25 and s.p_value < 0.001 and s.windows == len(DAYS)


def test_only_a_significant_gain_moves_the_served_forecast():
    assert random_walk_reason(scored(0.0, 1.0, calls=None), None, 0.05) is None  # already the random walk
    assert random_walk_reason(scored(0.004, 0.01), 3, 0.05) is None  # evidence: served as trained
    no_evidence = random_walk_reason(scored(0.0004, 0.44), 3, 0.05)
    assert no_evidence == " with shrinkage 0, the random walk (as trained: +0.04%, no evidence of skill: one-sided DM p = 0.44 >= 0.05)"
    assert "as trained: -0.30%" in random_walk_reason(scored(-0.003, 0.9), None, 0.05)  # nothing served: the random walk
    assert random_walk_reason(scored(-0.003, 0.9), 3, 0.05) is None  # a served version stays (decide keeps it)
    assert random_walk_reason(None, None, 0.05) is None

"""The served-model walk-forward replays production's champion/challenger gate: a challenger is
served only when it is not worse than the random walk nor the champion on the quarter before
its fold, scored on windows whose targets are all known before the fold starts."""

import sys

import numpy as np
import pandas as pd

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from served_walk_forward import in_quarter, served_split, simulate  # noqa: E402

SESSIONS = pd.bdate_range("2014-07-01", "2016-01-10").values.astype("datetime64[D]")
FOLDS = ["2015Q1", "2015Q2", "2015Q3"]


def checkpoint(fold: str, quality: dict[str, float], seed: int) -> dict:
    """Test predictions from the challenger's test start on: per quarter, a point forecast that
    is `quality` of the way from 0 to the actual return (negative: the wrong way)."""
    rng = np.random.default_rng(seed)
    test_start = np.datetime64(served_split(fold, FOLDS[-1])[1])
    ends = np.repeat(SESSIONS[(SESSIONS >= test_start) & (SESSIONS < np.datetime64("2015-12-20"))], 3)
    actual = rng.normal(0, 0.02, (len(ends), 5))
    point = np.zeros_like(actual)
    for quarter, q in quality.items():
        start = np.datetime64(pd.Period(quarter, "Q").start_time.date())
        stop = np.datetime64(pd.Period(quarter, "Q").end_time.date()) + 1
        chosen = (ends >= start) & (ends < stop)
        point[chosen] = q * actual[chosen]
    band = np.stack([point - 0.03, point, point + 0.03], axis=-1)
    predictions = {"point": point, "quantiles": band, "actual": actual, "sigma": np.full(len(ends), 0.01),
                   "end": ends, "symbol": np.tile(np.arange(3), len(ends) // 3), "raw_mean": point}
    return {"test_predictions": predictions, "train_drift": 0.0, "calibration": {"shrinkage": [1.0] * 5}}


def test_windows_of_a_quarter_have_every_target_inside_it():
    ends = SESSIONS[(SESSIONS >= np.datetime64("2015-03-20")) & (SESSIONS < np.datetime64("2015-04-03"))]
    chosen = in_quarter(ends, SESSIONS, "2015-01-01", "2015-04-01")
    assert [str(d) for d in ends[chosen]] == ["2015-03-20", "2015-03-23", "2015-03-24"]  # + 5 sessions < April


def test_the_gate_decides_what_is_served_in_each_fold():
    challengers = {
        # worse than the random walk on its gate quarter: nothing served yet -> shrinkage 0 is published
        "2015Q1": checkpoint("2015Q1", {"2014Q4": -0.5, "2015Q1": 0.9, "2015Q2": 0.9, "2015Q3": 0.9, "2015Q4": 0.9}, 0),
        # better than the random walk (the champion) on 2015Q1: published, served in 2015Q2
        "2015Q2": checkpoint("2015Q2", {"2015Q1": 0.5, "2015Q2": 0.5, "2015Q3": 0.5, "2015Q4": 0.5}, 1),
        # positive on 2015Q2 but worse than the champion there: kept, the 2015Q2 challenger serves 2015Q3
        "2015Q3": checkpoint("2015Q3", {"2015Q2": 0.1, "2015Q3": -2.0, "2015Q4": -2.0}, 2),
    }
    served, decisions = simulate(challengers, SESSIONS, tolerance=0.002, limit=5000, evidence_p=0.05)
    assert [d["published"] for d in decisions] == [True, True, False]
    assert decisions[0]["served"] == "2015Q1 challenger at shrinkage 0 (random walk)"
    assert decisions[1]["served"] == decisions[2]["served"] == "2015Q2 challenger"
    assert "kept version 2" in decisions[2]["decision"]
    assert served["2015Q1"]["metrics"]["model"]["skill"] == 0.0  # the random walk, with the band kept
    assert np.all(served["2015Q1"]["test_predictions"]["point"] == 0)
    assert served["2015Q2"]["metrics"]["model"]["skill"] > 0.3 and served["2015Q3"]["metrics"]["model"]["skill"] > 0.3
    for fold, state in served.items():  # each fold is scored on its own quarter only
        ends = state["test_predictions"]["end"]
        assert str(ends.min()) >= f"{fold[:4]}-{(int(fold[-1]) - 1) * 3 + 1:02d}-01"


def test_a_gain_without_evidence_is_served_as_the_random_walk():
    state = checkpoint("2015Q1", {"2015Q1": 0.9}, 3)
    p = state["test_predictions"]
    gate = (p["end"] >= np.datetime64("2014-10-01")) & (p["end"] < np.datetime64("2015-01-01"))
    # on the gate quarter: right on even days, wrong by almost as much on odd ones (a small, unstable gain)
    days = np.unique(p["end"][gate], return_inverse=True)[1]
    p["point"][gate] = np.where((days % 2 == 0)[:, None], 0.3, -0.27) * p["actual"][gate]
    p["quantiles"] = np.stack([p["point"] - 0.03, p["point"], p["point"] + 0.03], axis=-1)
    _, [with_rule] = simulate({"2015Q1": state}, SESSIONS, tolerance=0.002, limit=5000, evidence_p=0.05)
    assert with_rule["challenger_gate_skill"] > 0 and with_rule["challenger_gate_p"] >= 0.05
    assert with_rule["served"] == "2015Q1 challenger at shrinkage 0 (random walk)"
    assert "no evidence of skill: one-sided DM p = " in with_rule["decision"]
    _, [without] = simulate({"2015Q1": state}, SESSIONS, tolerance=0.002, limit=5000, evidence_p=1.0)
    assert without["served"] == "2015Q1 challenger"  # the gate as it was: any gain >= 0 is published

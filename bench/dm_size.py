"""Size and power of the gate's Diebold-Mariano test against the textbook alternatives, on the same
simulated samples (tests/model/test_dm_size.py's market: 88 symbols, overlapping 5-day targets,
market-correlated forecast errors). Figures: the share of samples where the one-sided 5 % test
says "a is better" - under the null (equal accuracy; ideal 5 %) and with a planted effect.

    .venv/bin/python bench/dm_size.py [--replicates 2000]
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import cpu_flags  # noqa: E402

from stock_assets.model.metrics import daily_mean, diebold_mariano  # noqa: E402
from tests.model.test_dm_size import HORIZON, loss_differential  # noqa: E402


def textbook(loss_a, loss_b, dates, kernel: str, hln: bool) -> float:
    """statsmodels' HAC with h-1 lags; HLN + Student-t(n-1), or normal p-values without HLN."""
    d = daily_mean(loss_a - loss_b, dates)
    n = len(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": HORIZON - 1, "kernel": kernel, "use_correction": False})
        se = float(fit.bse[0])
    if not (math.isfinite(se) and se > 0):
        fit = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": HORIZON - 1, "kernel": "bartlett", "use_correction": False})
        se = float(fit.bse[0])
    t = d.mean() / se
    if hln:
        return float(stats.t.cdf(t * math.sqrt((n + 1 - 2 * HORIZON + HORIZON * (HORIZON - 1) / n) / n), n - 1))
    return float(stats.norm.cdf(t))


TESTS = {
    "EWC, Student-t(B) (shipped)": lambda a, b, d: diebold_mariano(a, b, d, HORIZON)["p_a_better"],
    "rectangular h-1 lags + HLN, t(n-1)": lambda a, b, d: textbook(a, b, d, "uniform", True),
    "Bartlett h-1 lags, normal (before)": lambda a, b, d: textbook(a, b, d, "bartlett", False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--power-replicates", type=int, default=300)
    args = parser.parse_args()
    print(f"CPU flags: {cpu_flags()}")
    print("| test | size, 60 days | size, 250 days | power, 60 days | power, 250 days |\n|---|---|---|---|---|")
    figures: dict[str, list[float]] = {name: [] for name in TESTS}
    for effect, replicates in ((0.0, args.replicates), (0.1, args.power_replicates)):
        for days in (60, 250):
            rng = np.random.default_rng(days + int(effect * 100))
            p = {name: [] for name in TESTS}
            for _ in range(replicates):
                a, b, dates = loss_differential(rng, days, effect)
                for name, test in TESTS.items():
                    p[name].append(test(a, b, dates))
            for name in TESTS:
                figures[name].append(float(np.mean(np.asarray(p[name]) < 0.05)))
    for name, (s60, s250, p60, p250) in figures.items():
        print(f"| {name} | {s60:.1%} | {s250:.1%} | {p60:.1%} | {p250:.1%} |")
    print(f"\n{args.replicates} null samples (ideal size 5 %; standard error ~0.5 points), {args.power_replicates} samples "
          "with a's forecast moved 10 % of the way to the realised return (power).")


if __name__ == "__main__":
    main()

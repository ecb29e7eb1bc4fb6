"""Do the headlines' sentiment shares add to the forecast? The walk-forward of the price network
with and without them, on the real replay data, through the real assets and training entry point.

Protocol, written before the first run:
- data: bench/eval_replay.py's (88 companies + SPY, 2012-09..2015-12; 106,338 real texts
  2014-2015, embedded with MiniLM, which has no sentiment head, so every text is scored by the
  Loughran-McDonald dictionary); the panel's `news_tone` per (session, symbol) is the mean of
  positive minus negative share over the symbol's own texts aligned to that session (published
  before its close: no look-ahead);
- networks: `price` (production's price-only network) and `sentiment` (the same network, the same
  seed and splits, plus per input day the tone and a has-texts flag, and a zero-initialised
  linear path on the last day's tone and the mean tone of the last 5 days with texts);
- splits: eval_replay's (each fold's networks train on data before the fold: test = the 93
  sessions before it, validation = the 63 before those); each network is scored as trained on
  the fold's windows, with the same calibration rules as production;
- test: one-sided Diebold-Mariano p of "sentiment has the lower mean absolute error" (EWC
  variance, Student-t: stock_assets/model/metrics.py), per fold and pooled;
- rule: sentiment joins the served model only if, pooled over the 2014 development folds, that p
  is below 0.05 and its skill is not lower than the price network's in any fold. The 2015 folds
  are scored once, after the rule is applied, and reported whatever they show;
- beside it, a model-free check (statsmodels OLS, standard errors clustered by session): the
  5-day forward log-return, in units of the symbol's 30-session volatility, on the session's
  tone, over the folds' quarters (sessions with texts only).

    .venv/bin/python bench/sentiment_ablation.py [--folds 2014Q1,2014Q2,2014Q3,2014Q4] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import eval_replay  # noqa: E402  (sets STOCK_HOME, the replay dates and sys.path first)
import numpy as np

from machine import cpu_flags  # noqa: E402
from served_walk_forward import fold_keys, fold_splits, keys, quarter_start, record  # noqa: E402

VARIANTS = ("price", "sentiment")


def panel_with_tone(home: Path, symbols: list[str], embedder: str, reuse: bool):
    from stock_assets.model.panel import load_panel

    root = home / "lake" / "training_windows"
    stored = reuse and (root / "CURRENT").exists()
    if stored and load_panel(root).news_tone is not None:
        print("data: the panel of an earlier run (--reuse)", flush=True)
    else:  # a stored panel from before the tone existed is rebuilt from the stored partitions
        t = eval_replay.prepare(symbols, embedder, ingest=not stored)
        print(f"data: {len(symbols)} symbols; ingest + embed {t['ingest_embed_s']:.0f} s ({t['embedded_now']} texts embedded now); "
              f"panel {t['panel_s']:.0f} s", flush=True)
    panel = load_panel(root)
    if panel.news_tone is None:
        raise SystemExit(f"{root}: the panel has no news_tone (news_embeddings without sentiment columns?)")
    return panel


def tone_regression(panel, quarters: list[str]) -> dict:
    """OLS of the 5-day forward return (in window-volatility units) on the session's tone, over
    the sessions of `quarters` with texts; standard errors clustered by session."""
    import statsmodels.api as sm

    sessions = panel.sessions.astype("datetime64[D]")
    with np.errstate(invalid="ignore", divide="ignore"):
        log_close = np.log(panel.close.astype(np.float64))
    daily = np.diff(log_close, axis=0, prepend=np.nan)
    rows, tone, forward, day = [], [], [], []
    for quarter in quarters:
        start, stop = np.datetime64(quarter_start(quarter)), np.datetime64(quarter_start(quarter, 1))
        rows += list(np.flatnonzero((sessions >= start) & (sessions < stop)))
    for t in rows:
        if t < 30 or t + 5 >= len(sessions):
            continue
        sigma = np.sqrt(np.nanmean(daily[t - 28 : t + 1] ** 2, axis=0))
        ahead = (log_close[t + 5] - log_close[t]) / (sigma * np.sqrt(5))
        ok = np.isfinite(panel.news_tone[t]) & np.isfinite(ahead) & (sigma > 0)
        tone.append(panel.news_tone[t][ok])
        forward.append(ahead[ok])
        day.append(np.full(int(ok.sum()), t))
    x, y, groups = np.concatenate(tone).astype(np.float64), np.concatenate(forward), np.concatenate(day)
    fit = sm.OLS(y, sm.add_constant(x)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return {"coefficient": float(fit.params[1]), "t": float(fit.tvalues[1]), "p": float(fit.pvalues[1]),
            "observations": int(len(y)), "sessions": int(len(np.unique(groups))), "tone_sd": float(x.std())}


def texts_share(panel, state: dict, wanted: np.ndarray) -> float:
    """Share of the fold's windows with texts on one of their last 5 input days."""
    p = state["test_predictions"]
    index = {k: i for i, k in enumerate(keys(p))}
    rows = np.array([index[k] for k in wanted], dtype=np.int64)
    ends = np.searchsorted(panel.sessions.astype("datetime64[D]"), np.asarray(p["end"]).astype("datetime64[D]")[rows])
    symbols = np.asarray(p["symbol"], np.int64)[rows]
    recent = np.stack([np.isfinite(panel.news_tone[ends - k, symbols]) for k in range(5)])
    return float(recent.any(axis=0).mean()) if len(rows) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    eval_replay.add_training_arguments(parser, folds="2014Q1,2014Q2,2014Q3,2014Q4")
    parser.add_argument("--out", type=Path, default=None, help="write the report (Markdown) here too")
    args = parser.parse_args()

    from stock_assets.export.gate import PRICE
    from stock_assets.model.report import dm_same_windows, ic, pct, pooled_arrays, pooled_metrics, ranking
    from stock_assets.training.windows import TEST_SESSIONS, VALIDATION_SESSIONS

    home = Path(os.environ["STOCK_HOME"])
    symbols = sorted(p.stem for p in (eval_replay.REPLAY / "prices").glob("*.csv"))
    panel = panel_with_tone(home, symbols, args.embedder, args.reuse)
    sessions = panel.sessions.astype("datetime64[D]")
    folds = args.folds.split(",")
    results: dict[str, dict[str, dict]] = {}
    lines = ["| fold | windows | windows with texts in the last 5 days | skill price / + sentiment | one-sided DM p (sentiment better) | "
             "rank IC price / + sentiment (ICIR) | sentiment path weights (last day, 5-day) |", "|---|---|---|---|---|---|---|"]
    for fold in folds:
        splits = fold_splits(sessions, fold, folds[-1], VALIDATION_SESSIONS, TEST_SESSIONS)
        states = {}
        for variant in VARIANTS:
            run = eval_replay.train_fold(fold, variant, splits, args)
            states[variant] = run["state"]
            print(f"{fold} {variant}: splits {splits}, {run['seconds']:.0f} s, best epoch {run['state']['epoch']}, "
                  f"alpha {run['state']['calibration']['shrinkage']}", flush=True)
        wanted = fold_keys(states["price"], sessions, fold)
        results[fold] = {v: record({"price": states[v]}, PRICE, wanted) for v in VARIANTS}
        price, tone = results[fold]["price"], results[fold]["sentiment"]
        dm = dm_same_windows(tone["test_predictions"], price["test_predictions"])
        weights = np.asarray(states["sentiment"]["model_state"]["sentiment_path.weight"]).mean(axis=0)
        lines.append(f"| {fold} | {len(wanted)} | {texts_share(panel, states['price'], wanted):.2f} | "
                     f"{pct(price['metrics']['model']['skill'], 3)} / {pct(tone['metrics']['model']['skill'], 3)} | {dm['p_a_better']:.3f} | "
                     f"{ic(ranking(price))} / {ic(ranking(tone))} | {weights[0]:+.4f}, {weights[1]:+.4f} |")
    pooled = {v: pooled_metrics(results, v)["model"] for v in VARIANTS}
    dm = dm_same_windows(pooled_arrays(results, "sentiment"), pooled_arrays(results, "price"))
    never_worse = all(r["sentiment"]["metrics"]["model"]["skill"] >= r["price"]["metrics"]["model"]["skill"] for r in results.values())
    evidence = dm["p_a_better"] < 0.05 and never_worse
    regression = tone_regression(panel, folds)
    report = "\n\n".join([
        f"Command: `.venv/bin/python bench/sentiment_ablation.py {' '.join(sys.argv[1:])}`; {len(symbols)} symbols, embedder "
        f"{args.embedder} (texts scored by the Loughran-McDonald dictionary), model size {args.size}, up to {args.epochs} epochs "
        f"(patience {args.patience}), 2-process DDP, seed {args.seed}; CPU flags: {cpu_flags()}.",
        "Per fold (each network as trained, on the fold's windows):\n\n" + "\n".join(lines),
        f"Pooled: skill vs the random walk {pct(pooled['price']['skill'], 3)} (price) / {pct(pooled['sentiment']['skill'], 3)} "
        f"(+ sentiment); Diebold-Mariano on absolute errors, sentiment vs price: statistic {dm['statistic']:.2f}, one-sided p "
        f"(sentiment better) = {dm['p_a_better']:.3f} over {dm['days']} days.",
        f"Decision rule (pooled one-sided p < 0.05 and never less skill in a fold): "
        f"{'evidence: sentiment would earn its place' if evidence else 'no evidence: sentiment stays out of the served model'}.",
        f"Model-free check (OLS, errors clustered by session): 5-day forward return in volatility units on the session's tone: "
        f"coefficient {regression['coefficient']:+.4f} per unit of tone (tone sd {regression['tone_sd']:.3f}), t = {regression['t']:.2f}, "
        f"p = {regression['p']:.3f}; {regression['observations']} symbol-sessions with texts on {regression['sessions']} sessions.",
    ])
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")

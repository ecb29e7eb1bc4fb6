"""served_forecasts and forecast_scores: what was served each day, scored when its outcome arrives.

Both take one day (the daily automation) or a range of days in one run (a backfill), and work
through the range day by day, as the daily runs would have: the interval served on a day uses the
outcomes known by that day's close only, whether they were scored in earlier runs or earlier in
this one.
"""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd

from stock_assets import market_calendar
from stock_assets.automation import when_upstream_changed
from stock_assets.ingest.assets import raw_prices
from stock_assets.lake import LakeResource
from stock_assets.settings import stock_home
from stock_assets.model.panel import load_panel
from stock_assets.partitions import daily_partitions_def
from stock_assets.teams import ML_ENGINEERING
from stock_assets.track import registry
from stock_assets.track.calibration import SCALE_LOOKBACK_DAYS, WINDOW_SESSIONS, served_scales
from stock_assets.track.forecasts import day_inputs, served_rows
from stock_assets.track.record import FORECAST_COLUMNS, SCORE_COLUMNS, Outcomes, empty, last_sessions, read_record, record_table, track_record
from stock_assets.track.plot import record_plot
from stock_assets.track.resources import ServedModelResource
from stock_assets.training.assets import panel_root, training_windows

# The day's partition only, once its inputs changed after the close (a backfill fills the past).
latest_day_after_close = dg.AutomationCondition.in_latest_time_window() & when_upstream_changed
SCORE_LOOKBACK_DAYS = 14  # 5 sessions back never span more calendar days than this
BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=90)
COVERAGE_BAND, COVERAGE_SESSIONS, MIN_COVERAGE_SESSIONS = (0.70, 0.90), 60, 20


def shifted(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def is_session(day: str) -> bool:
    return market_calendar.is_session(date.fromisoformat(day))


def outcomes_for(lake: LakeResource, days: list[str], lookback: int, stored_scores: bool = False) -> Outcomes:
    """Forecasts served before `days[0]` (from the lake, `lookback` days back), the closes of every
    day from then to `days[-1]` and, when `stored_scores`, forecast_scores of the days before
    `days[0]`: what scoring needs, day by day."""
    since, before = shifted(days[0], -lookback), shifted(days[0], -1)
    served = read_record(lake.root / "served_forecasts", since=since, until=before)
    keys = pd.date_range(since, days[-1]).strftime("%Y-%m-%d")
    stored = read_record(lake.root / "forecast_scores", since=since, until=before) if stored_scores else None
    return Outcomes(served, lake.read("raw_prices", keys), stored)


@dg.asset(
    partitions_def=daily_partitions_def,
    owners=ML_ENGINEERING,
    group_name="track_record",
    kinds={"triton", "parquet"},
    deps=[training_windows, raw_prices],
    automation_condition=latest_day_after_close,
    backfill_policy=BACKFILL,
)
def served_forecasts(context: dg.AssetExecutionContext, lake: LakeResource, served_model: ServedModelResource) -> pd.DataFrame:
    """Every symbol's forecast from the close of this session, by the version served that day (the
    version registry: never a later model, nothing before the first version): 5 closes, the
    version's own 10/50/90 % quantiles, the interval after the live record's scale (from the
    forecast_scores of outcomes known by this close only; days of the same backfill that
    forecast_scores does not hold yet are scored by its rule), the trailing-volatility band,
    model version and input watermark, as Triton answers (the archived ONNX file in onnxruntime
    when Triton no longer has that version loaded, e.g. in a backfill of older days)."""
    home = stock_home()
    days = list(context.partition_keys)
    entries = registry.load(home)
    outcomes = outcomes_for(lake, days, SCALE_LOOKBACK_DAYS, stored_scores=True)
    panel, frames, notes = None, [], {}
    for day in days:
        entry = registry.served_on(entries, day) if is_session(day) else None
        if entry is None:
            notes[day] = "not a session" if not is_session(day) else "no version served"
            continue
        panel = panel or load_panel(panel_root())
        symbols, price, news = day_inputs(panel, day)
        if not symbols:
            raise ValueError(f"training_windows (up to {panel.watermark}) has no 30-session window ending {day}: materialize it first")
        scales = served_scales(outcomes.scores_until(day), day)
        closes, quantiles, served_by = served_model.forecast(home, entry.version, price, news)
        frame = served_rows(day, entry.version, entry.network, served_by, symbols, price, closes, quantiles, scales)
        outcomes.add_forecasts(frame)
        frames.append(frame)
        notes[day] = f"v{entry.version} ({entry.network}) by {served_by}, {len(symbols)} symbols, scales {np.round(scales, 3).tolist()}"
    context.add_output_metadata({
        "forecasts": sum(len(f) for f in frames) // 5,
        "days": dg.MetadataValue.md("\n".join(f"- {d}: {n}" for d, n in notes.items())),
    })
    return pd.concat(frames, ignore_index=True) if frames else empty(FORECAST_COLUMNS)


@dg.asset(
    partitions_def=daily_partitions_def,
    owners=ML_ENGINEERING,
    group_name="track_record",
    kinds={"python", "parquet"},
    deps=[raw_prices, dg.AssetDep(served_forecasts, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-SCORE_LOOKBACK_DAYS, end_offset=-1, allow_nonexistent_upstream_partitions=True))],
    automation_condition=latest_day_after_close,
    backfill_policy=BACKFILL,
    check_specs=[dg.AssetCheckSpec(
        "served_coverage", asset="forecast_scores",
        description=f"warns when the served version's 80 % intervals covered outside {COVERAGE_BAND[0]:.2f}-{COVERAGE_BAND[1]:.2f} "
                    f"over its last {COVERAGE_SESSIONS} scored sessions (checked from {MIN_COVERAGE_SESSIONS} on)")],
)
def forecast_scores(context: dg.AssetExecutionContext, lake: LakeResource):
    """Each served forecast whose horizon day closed on this session, scored once against the
    realised (adjusted) close: absolute log-return error and the random walk's, the 80 % interval
    hit and the trailing band's, pinball loss of both, and the miss in the interval's own units
    (what the daily recalibration uses). Metadata: the track record of the served version and of
    all versions over the last 20 / 60 sessions and since publication (skill vs the random walk
    with the corrected DM p-value, 80 % coverage, pinball vs the band, daily rank IC)."""
    days = list(context.partition_keys)
    outcomes = outcomes_for(lake, days, SCORE_LOOKBACK_DAYS)
    served = read_record(lake.root / "served_forecasts", since=days[0], until=days[-1])
    if served is not None:
        outcomes.add_forecasts(served)
    frames = [outcomes.score_day(day) for day in days if is_session(day)]
    frame = pd.concat(frames, ignore_index=True) if frames else empty(SCORE_COLUMNS)
    last = days[-1]
    history = read_record(lake.root / "forecast_scores", until=shifted(days[0], -1))
    record = frame if history is None else pd.concat([history, frame], ignore_index=True)
    served_version = registry.served_on(registry.load(stock_home()), last)
    records = {"all versions": track_record(record)}
    if served_version is not None:
        records = {f"v{served_version.version} (served)": track_record(record, served_version.version), **records}
    yield dg.Output(frame, metadata={
        "scored": int(len(frame)),
        "track_record": dg.MetadataValue.md(record_markdown(records, record)),
        "next_interval_scales": dg.MetadataValue.json([round(float(s), 4) for s in served_scales(record, last)]),
        "scale_window_sessions": WINDOW_SESSIONS,
        "coverage_80": float(frame["hit"].mean()) if len(frame) else float("nan"),
    })
    yield coverage_check(record, served_version)


def record_markdown(records: dict, scores: pd.DataFrame) -> str:
    text = record_table({k: v for k, v in records.items() if v})
    image = record_plot(scores) if not scores.empty else None
    return text + (f"\n\n![cumulative skill and coverage](data:image/png;base64,{image})" if image else "")


def coverage_check(record: pd.DataFrame, served: registry.ServedVersion | None) -> dg.AssetCheckResult:
    mine = record[record["model_version"] == served.version] if served is not None and not record.empty else record.iloc[:0]
    recent = last_sessions(mine, COVERAGE_SESSIONS) if not mine.empty else mine
    sessions = int(recent["date"].nunique()) if not recent.empty else 0
    if sessions < MIN_COVERAGE_SESSIONS:
        return dg.AssetCheckResult(check_name="served_coverage", passed=True,
                                   metadata={"sessions": sessions, "note": f"fewer than {MIN_COVERAGE_SESSIONS} scored sessions"})
    coverage = float(recent["hit"].mean())
    low, high = COVERAGE_BAND
    return dg.AssetCheckResult(check_name="served_coverage", passed=low <= coverage <= high, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"version": served.version, "sessions": sessions, "coverage_80": coverage,
                                         "band_coverage_80": float(recent["band_hit"].mean())})

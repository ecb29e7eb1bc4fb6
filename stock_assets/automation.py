"""When assets run without a human: a new day's data ends in a new model served.

- raw_prices: each weekday after the US close (18:00 New York) for that day's partition (after
  every close: early closes are at 13:00; a holiday or closure stores an empty partition).
- raw_news: every day at 18:00, weekends included: weekend headlines belong to Monday's session.
- news_embeddings, chroma_collection: as soon as their upstream day updates.
- training_windows -> model_checkpoint -> onnx_model: at the same tick, only if an upstream
  asset updated since it (never bare eager(), which only sees the latest partition), and only
  when upstream blocking checks passed. onnx_model's materialization then triggers the deploy
  sensors (stock_assets/deploy/sensors.py).
"""

from datetime import timedelta

import dagster as dg

AFTER_CLOSE = "0 18 * * 1-5"
NEW_YORK = "America/New_York"

daily_after_close = dg.AutomationCondition.on_cron(AFTER_CLOSE, NEW_YORK)
EVERY_EVENING = "0 18 * * *"
every_evening = dg.AutomationCondition.on_cron(EVERY_EVENING, NEW_YORK)

follows_upstream_day = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()

_tick = dg.AutomationCondition.cron_tick_passed(AFTER_CLOSE, NEW_YORK)
when_upstream_changed = (
    _tick.since_last_handled()
    & dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated().since(_tick) | dg.AutomationCondition.will_be_requested()
    ).with_label("any_deps_updated_since_cron")
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label(f"on_cron_if_upstream_changed({AFTER_CLOSE}, {NEW_YORK})")

# News older than a day and a half means the evening runs are failing.
raw_freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))
# Prices: a materialization between 16:00 and 20:00 New York each weekday (the 18:00 run), so a
# weekend without prices is not stale, while a failed weekday run is.
price_freshness = dg.FreshnessPolicy.cron(deadline_cron="0 20 * * 1-5", lower_bound_delta=timedelta(hours=4), timezone=NEW_YORK)

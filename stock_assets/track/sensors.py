"""The champion kept honest: a served version whose live record is significantly worse than the
random walk is demoted to the random walk with a calibrated band, as a run with its reason.

The demotion publishes a new version through onnx_model (demote_reason set); the deploy sensor
loads it and the version registry records it with that reason, so it is never silent.
"""

import dagster as dg

from stock_assets.export.assets import onnx_model
from stock_assets.export.gate import RANDOM_WALK
from stock_assets.lake import lake_root
from stock_assets.settings import stock_home
from stock_assets.track import registry
from stock_assets.track.record import read_record, summary

FORECAST_SCORES = dg.AssetKey("forecast_scores")
DEMOTION_SESSIONS = 60  # scored sessions before a live record may demote
DEMOTION_P = 0.05  # one-sided DM p-value of "worse than the random walk"

demote_served_version = dg.define_asset_job(
    "demote_served_version", selection=[onnx_model],
    description="Publish the random walk with a calibrated band in place of a served version the live record found worse",
)


def demotion_reason(version: registry.ServedVersion, scores) -> str | None:
    """Why `version` must go, or None: at least DEMOTION_SESSIONS scored sessions and its skill
    against the random walk significantly negative (corrected one-sided DM)."""
    if version.network == RANDOM_WALK or scores is None:
        return None
    record = summary(scores[scores["model_version"] == version.version])
    if record["forecasts"] == 0 or record["sessions"] < DEMOTION_SESSIONS or not record["p_worse"] < DEMOTION_P:
        return None
    return (f"v{version.version}'s live record over {record['sessions']} sessions ({record['forecasts']} forecasts): "
            f"skill {record['skill']:+.2%} against the random walk, one-sided DM p = {record['p_worse']:.4f} that it is worse")


@dg.sensor(job=demote_served_version, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def demotion_sensor(context: dg.SensorEvaluationContext):
    """After new forecast_scores, demotes the served version when its live record is significantly
    worse than the random walk (once per version: the run key)."""
    after = int(context.cursor or 0)
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=FORECAST_SCORES, after_storage_id=after),
                                                      limit=1000, ascending=True).records
    if not records:
        yield dg.SkipReason("no new forecast_scores")
        return
    context.update_cursor(str(records[-1].storage_id))
    entries = registry.load(stock_home())
    if not entries:
        yield dg.SkipReason("no version registered as served")
        return
    served = entries[-1]
    reason = demotion_reason(served, read_record(lake_root() / "forecast_scores"))
    if reason is None:
        yield dg.SkipReason(f"v{served.version} ({served.network}) keeps its place")
        return
    context.log.warning(f"demoting: {reason}")
    yield dg.RunRequest(run_key=f"demote-v{served.version}",
                        run_config={"ops": {"onnx_model": {"config": {"demote_reason": reason}}}},
                        tags={"stock/demoted_version": str(served.version)})

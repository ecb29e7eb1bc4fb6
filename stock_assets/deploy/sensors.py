"""Deploy on new materializations: a sensor's side effect is the legitimate use of a sensor.

- triton_deploy_sensor: each published onnx_model version (its blocking parity check passed;
  a failing model is never published) runs deploy_triton_job once (cursor = storage id).
- chatbot_redeploy_sensor: a new model version or new news in chroma_collection (its count
  check passed) runs redeploy_chatbot_job; a backfill's many partitions give one redeploy.
"""

import json

import dagster as dg

from stock_assets.deploy.resources import ChatbotDeployer, TritonDeployer
from stock_assets.export.assets import model_repository
from stock_assets.export.triton_repository import properties_of
from stock_assets.settings import stock_home
from stock_assets.model.panel import load_panel
from stock_assets.track import registry
from stock_assets.training.assets import panel_root

ONNX_MODEL, CHROMA = dg.AssetKey("onnx_model"), dg.AssetKey("chroma_collection")


class TritonDeployConfig(dg.Config):
    version: int


@dg.op(description="POST load to Triton, wait until the version is ready, and register it as served from the next session")
def deploy_model_to_triton(context: dg.OpExecutionContext, config: TritonDeployConfig, triton: TritonDeployer) -> dict:
    result = triton.deploy(config.version, context.log)
    entry = register_served(config.version)
    context.log.info(f"v{entry.version} ({entry.network}) serves forecasts from {entry.served_from} (data until {entry.data_until})")
    return {**result, "served_from": entry.served_from}


@dg.job(description="Load a published stock_predictor version into Triton")
def deploy_triton_job():
    deploy_model_to_triton()


@dg.op(description="Reload the local chatbot, or restart its Deployment on Kubernetes")
def redeploy_chatbot(context: dg.OpExecutionContext, chatbot: ChatbotDeployer) -> dict:
    result = chatbot.redeploy()
    context.log.info(f"chatbot redeployed: {result}")
    return result


@dg.job(description="Make the chatbot pick up a new model version and news index")
def redeploy_chatbot_job():
    redeploy_chatbot()


def register_served(version: int) -> registry.ServedVersion:
    """The version registry's entry for a deployed version: it serves from the session after both
    its training data and the data in the lake now (the panel's last session)."""
    props = properties_of(model_repository(), version)
    try:
        data_until = load_panel(panel_root()).watermark
    except FileNotFoundError:
        data_until = props["watermark"]
    return registry.register(stock_home(), version, model_repository() / str(version) / "model.onnx", props["watermark"],
                             data_until, props.get("served_network", "news"), props.get("publication_reason") or "deployed")


def new_records(instance: dg.DagsterInstance, key: dg.AssetKey, after: int):
    result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1000, ascending=True)
    return result.records


def published_version(record) -> int | None:
    metadata = record.asset_materialization.metadata
    published = metadata.get("published")
    version = metadata.get("version")
    if published is not None and published.value and version is not None and version.value > 0:
        return int(version.value)
    return None


def chroma_check_passed(instance: dg.DagsterInstance, run_id: str) -> bool:
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    results = [e.event_log_entry.dagster_event.event_specific_data for e in events]
    results = [r for r in results if r.asset_key == CHROMA]
    return bool(results) and all(r.passed for r in results)


@dg.sensor(job=deploy_triton_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def triton_deploy_sensor(context: dg.SensorEvaluationContext, triton: TritonDeployer):
    """Loads every newly published onnx_model version into Triton, once. While Triton is not
    reachable it waits (skips, saying why, and keeps its cursor) instead of launching runs
    that would fail."""
    after = int(context.cursor or 0)
    records = new_records(context.instance, ONNX_MODEL, after)
    if any(published_version(r) is not None for r in records):
        reason = triton.unreachable_reason()
        if reason:
            yield dg.SkipReason(reason)
            return
    for record in records:
        after = record.storage_id
        version = published_version(record)
        if version is None:
            context.log.info(f"onnx_model materialization {record.storage_id} was not published (failed checks): skipped")
            continue
        yield dg.RunRequest(
            run_key=f"triton-v{version}-{record.storage_id}",
            run_config={"ops": {"deploy_model_to_triton": {"config": {"version": version}}}},
            tags={"stock/model_version": str(version)},
        )
    context.update_cursor(str(after))


@dg.sensor(job=redeploy_chatbot_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def chatbot_redeploy_sensor(context: dg.SensorEvaluationContext, chatbot: ChatbotDeployer):
    """Redeploys the chatbot once per batch of new model versions or news-index updates; waits
    (skips, saying why) while a local chatbot is not running."""
    reason = chatbot.unreachable_reason()
    if reason:
        yield dg.SkipReason(reason)
        return
    cursor = json.loads(context.cursor) if context.cursor else {"onnx": 0, "chroma": 0}
    changes = []
    for record in new_records(context.instance, ONNX_MODEL, cursor["onnx"]):
        cursor["onnx"] = record.storage_id
        if published_version(record) is not None:
            changes.append(f"model v{published_version(record)}")
    passed_runs: dict[str, bool] = {}
    for record in new_records(context.instance, CHROMA, cursor["chroma"]):
        cursor["chroma"] = record.storage_id
        run_id = record.run_id
        if run_id not in passed_runs:
            passed_runs[run_id] = chroma_check_passed(context.instance, run_id)
        if passed_runs[run_id]:
            changes.append(f"news {record.partition_key}")
    if changes:
        yield dg.RunRequest(run_key=f"chatbot-{cursor['onnx']}-{cursor['chroma']}", tags={"stock/changes": ", ".join(changes[:5])})
    context.update_cursor(json.dumps(cursor))

"""Automation: after the close the raw assets request their day and the chain follows; nothing
otherwise. Evaluated with Dagster's own evaluator against the real definitions."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from stock_assets.definitions import defs

NY = ZoneInfo("America/New_York")
CHAIN = ["raw_prices", "raw_news", "news_embeddings", "chroma_collection", "training_windows", "model_checkpoint", "onnx_model"]


def requested(result) -> dict[str, list]:
    out = {}
    for key in CHAIN:
        partitions = result.get_requested_partitions(dg.AssetKey(key))
        count = result.get_num_requested(dg.AssetKey(key))
        if count:
            out[key] = sorted(p for p in partitions if p is not None)
    return out


def test_after_the_close_the_day_then_the_chain_are_requested_once(tmp_path, replay_dir):
    from stock_assets.ingest.assets import raw_news, raw_prices
    from tests.conftest import lake_resources

    with dg.instance_for_test() as instance:
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=datetime(2015, 3, 4, 17, 50, tzinfo=NY))
        assert requested(before) == {}
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor,
                                                  evaluation_time=datetime(2015, 3, 4, 18, 5, tzinfo=NY))
        # the tests' partitions end at STOCK_END_DATE, so the latest complete day is the 3rd;
        # open-ended (production) partitions include the current day (end_offset=1)
        assert requested(after) == {"raw_prices": ["2015-03-03"], "raw_news": ["2015-03-03"]}
        # downstream waits for the raw data and its blocking checks: run the requested day for real
        resources = lake_resources(tmp_path / "lake")
        assert dg.materialize([raw_prices, raw_news], resources=resources, instance=instance, partition_key="2015-03-03").success
        follow = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor,
                                                   evaluation_time=datetime(2015, 3, 4, 18, 10, tzinfo=NY))
        got = requested(follow)
        assert got["news_embeddings"] == ["2015-03-03"]
        assert "training_windows" in got and "model_checkpoint" in got
        # gated on blocking checks that run with their upstream: they follow in a later evaluation
        assert "chroma_collection" not in got and "onnx_model" not in got
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=follow.cursor,
                                                  evaluation_time=datetime(2015, 3, 4, 18, 20, tzinfo=NY))
        assert not {"raw_prices", "raw_news", "training_windows", "model_checkpoint"} & set(requested(again))


def test_weekends_fetch_news_but_no_prices():
    """Weekend headlines belong to Monday's session, so raw_news ticks every evening; prices only on weekdays."""
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=datetime(2015, 3, 7, 17, 0, tzinfo=NY))
        saturday = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor,
                                                     evaluation_time=datetime(2015, 3, 7, 18, 30, tzinfo=NY))
        assert requested(saturday) == {"raw_news": ["2015-03-06"]}  # the latest complete day (tests: end_offset 0)


def test_raw_assets_have_freshness_policies_and_the_sensors_exist():
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert specs["raw_prices"].freshness_policy is not None and specs["raw_news"].freshness_policy is not None
    # prices are due each weekday evening (a weekend is not stale); news within 36 h, every day
    assert specs["raw_prices"].freshness_policy.deadline_cron == "0 20 * * 1-5"
    assert specs["raw_news"].freshness_policy.fail_window.to_timedelta().total_seconds() == 36 * 3600
    assert all(specs[k].automation_condition is not None for k in CHAIN)
    assert {s.name for s in defs.sensors} >= {"triton_deploy_sensor", "chatbot_redeploy_sensor"}

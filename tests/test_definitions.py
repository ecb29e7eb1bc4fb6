import os
import subprocess
import sys

import dagster as dg

from stock_assets.definitions import defs
from stock_assets.instance import WORKSPACE, dagster_cli_options


def test_definitions_load_with_partitioned_raw_assets():
    graph = defs.resolve_asset_graph()
    for key in ("raw_prices", "raw_news"):
        node = graph.get(dg.AssetKey(key))
        assert node.partitions_def is not None
        assert node.partitions_def.timezone == "America/New_York"
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    for spec in specs.values():
        assert spec.group_name != "default", spec.key
        assert spec.kinds, spec.key
        assert spec.description and len(spec.description) > 40, spec.key
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"unique_date_symbol", "finite_positive_prices", "unique_id", "no_future_timestamps"} <= checks


def test_dagster_definitions_validate_passes():
    bin_dir = os.path.dirname(sys.executable)
    proc = subprocess.run(
        [os.path.join(bin_dir, "dagster"), "definitions", "validate", "-w", str(WORKSPACE)],
        capture_output=True, text=True, timeout=300, **dagster_cli_options(os.environ["DAGSTER_HOME"]),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_backfill_policies_pools_and_pods_are_what_the_readme_says():
    """README "Backfills": prices single-run; news in 30-day runs in the finnhub_api pool;
    embeddings and the Chroma index in 20-day runs (pools embedding, chroma_writes); the
    embedding step's pod size as dagster-k8s/config op tags."""
    policy = {key: defs.get_assets_def(key).backfill_policy for key in ("raw_prices", "raw_news", "news_embeddings", "chroma_collection")}
    assert policy == {
        "raw_prices": dg.BackfillPolicy.single_run(),
        "raw_news": dg.BackfillPolicy.multi_run(30),
        "news_embeddings": dg.BackfillPolicy.multi_run(20),
        "chroma_collection": dg.BackfillPolicy.multi_run(20),
    }
    pools = {key: defs.get_assets_def(key).op.pool for key in ("raw_prices", "raw_news", "news_embeddings", "chroma_collection")}
    assert pools == {"raw_prices": None, "raw_news": "finnhub_api", "news_embeddings": "embedding", "chroma_collection": "chroma_writes"}
    import json

    pod = json.loads(defs.get_assets_def("news_embeddings").op.tags["dagster-k8s/config"])["container_config"]["resources"]
    assert pod["requests"] == {"cpu": "2", "memory": "6Gi"} and "nvidia.com/gpu" not in pod["limits"]


def test_backfill_settings_from_the_environment(monkeypatch):
    """The gpu overlay's STOCK_EMBED_GPUS asks for a GPU; STOCK_EXECUTOR=k8s runs steps as pods;
    a bad value fails at load, naming the variable."""
    import pytest

    from stock_assets import backfills

    monkeypatch.setenv("STOCK_EMBED_GPUS", "1")
    assert backfills.embedding_pod()["dagster-k8s/config"]["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    from dagster_k8s import k8s_job_executor

    assert backfills.executor("k8s") is k8s_job_executor and backfills.executor("multiprocess") is dg.multiprocess_executor
    with pytest.raises(ValueError, match="STOCK_EXECUTOR='celery'"):
        backfills.executor("celery")
    monkeypatch.setenv("STOCK_EMBED_DAYS_PER_RUN", "0")
    with pytest.raises(ValueError, match="STOCK_EMBED_DAYS_PER_RUN='0' must be a whole number"):
        backfills.positive_int("STOCK_EMBED_DAYS_PER_RUN", 20)

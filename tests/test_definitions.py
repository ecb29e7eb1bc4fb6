import os
import subprocess
import sys

import dagster as dg

from stock_assets.definitions import defs
from tests.conftest import REPO


def test_definitions_load_with_partitioned_raw_assets():
    graph = defs.resolve_asset_graph()
    for key in ("raw_prices", "raw_news"):
        node = graph.get(dg.AssetKey(key))
        assert node.partitions_def is not None
        assert node.partitions_def.timezone == "America/New_York"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
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
        [os.path.join(bin_dir, "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr

"""Drill 4: two materializations of the same partition at once, in two processes sharing one
Dagster instance, held at a barrier so that both write the lake file at the same moment."""

import dagster as dg
import pandas as pd
import pytest

from tests.drills.conftest import finish_all, start_run

pytestmark = pytest.mark.slow
DAY = "2014-03-03"


def test_the_file_is_one_complete_result_and_the_event_log_has_both_runs(tmp_path):
    lake, dagster_home = tmp_path / "lake", tmp_path / "dagster"
    dagster_home.mkdir()
    # the instance exists before the runs, as under `dagster dev` (two processes creating a fresh
    # SQLite instance at once race on its schema, which is not what this drill is about)
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    (tmp_path / "barrier").mkdir()
    symbols = {"a": ["SPY", "AAPL", "MSFT"], "b": ["GOOG", "AMZN"]}  # two different, complete results
    barrier = f"{tmp_path / 'barrier'}:2:stock_assets.lake:write_parquet_atomic"
    runs = {name: start_run("prices", {"lake": str(lake), "symbols": s, "partition": DAY}, barrier=barrier,
                            STOCK_HOME=tmp_path, DAGSTER_HOME=dagster_home)
            for name, s in symbols.items()}
    done = dict(zip(runs, finish_all(list(runs.values()))))
    assert all(r.returncode == 0 for r in done.values()), "\n\n".join(f"run {n}: {r.stderr[-1500:]}" for n, r in done.items())

    stored = pd.read_parquet(lake / "raw_prices" / f"{DAY}.parquet")
    assert sorted(stored["symbol"]) in (sorted(symbols["a"]), sorted(symbols["b"]))  # one of the two, never a mix
    assert len(stored) == len(set(stored["symbol"])) and stored.notna().all().all()
    assert [p.name for p in (lake / "raw_prices").iterdir()] == [f"{DAY}.parquet"]  # no temp file left

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        ids = {r.summary["run_id"] for r in done.values()}
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_prices"),
                                                                        asset_partitions=[DAY]), limit=10).records
        assert {r.run_id for r in records} == ids and len(ids) == 2  # both runs are in the event log
        assert {instance.get_run_by_id(i).status for i in ids} == {dg.DagsterRunStatus.SUCCESS}

"""The lake: atomic Parquet writes, object-store URLs, partition splitting."""

import pandas as pd
import pytest
from upath import UPath

from stock_assets.lake import read_partitions, split_by_partition, write_parquet_atomic


def frame(days):
    return pd.DataFrame({"date": pd.to_datetime(days), "symbol": "AAPL", "close": range(len(days))})


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = UPath(tmp_path) / "raw_prices" / "2014-01-02.parquet"
    write_parquet_atomic(frame(["2014-01-02"]), path)
    before = path.read_bytes()
    bad = pd.DataFrame({"date": [object()]})  # pyarrow cannot serialise this
    with pytest.raises(Exception):
        write_parquet_atomic(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["2014-01-02.parquet"]


def test_object_store_url_round_trip():
    root = UPath("memory://lake-test/lake")
    for day in ("2014-01-02", "2014-01-03"):
        write_parquet_atomic(frame([day]), root / "raw_prices" / f"{day}.parquet")
    loaded = read_partitions(root, "raw_prices", ["2014-01-01", "2014-01-02", "2014-01-03"])
    assert list(loaded["date"].dt.strftime("%Y-%m-%d")) == ["2014-01-02", "2014-01-03"]


def test_split_refuses_rows_outside_the_partitions():
    parts = split_by_partition(frame(["2014-01-02", "2014-01-02", "2014-01-03"]), "date", ["2014-01-02", "2014-01-03", "2014-01-04"])
    assert [len(p) for p in parts.values()] == [2, 1, 0]
    with pytest.raises(ValueError, match=r"outside the partitions being written .*2014-01-05"):
        split_by_partition(frame(["2014-01-05"]), "date", ["2014-01-02"])

"""Drill 8: a full disk and a read-only STOCK_HOME. The lake lives on a small tmpfs of its own;
the real raw_prices run fails with a message naming the file it could not write and why, and
the partition files written before are intact, with no temp file left beside them."""

import os
import subprocess
import uuid

import pytest

from stock_assets.ingest.assets import raw_prices
from tests.conftest import lake_resources, materialize_range
from tests.ingest.test_bad_input import failure_text

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
FIRST, LAST = "2014-01-01", "2014-01-31"


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted for this test alone."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_full_disk_and_read_only_lake_fail_naming_the_path_and_keep_every_file(small_disk):
    lake = small_disk / "lake"
    first = materialize_range([raw_prices], lake_resources(lake), FIRST, LAST)
    assert first.success
    before = snapshot(lake / "raw_prices")
    assert len(before) == 31

    # fill the disk to the last byte: the next write of any partition cannot complete
    with open(small_disk / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    more = lake_resources(lake, price={"symbols": ["SPY", "AAPL", "MSFT", "GOOG", "AMZN"]})  # other content than before
    full = materialize_range([raw_prices], more, FIRST, LAST, raise_on_error=False)
    assert not full.success
    message = failure_text(full)
    assert "cannot write" in message and str(lake / "raw_prices") in message and "no space left on the device" in message, message
    assert snapshot(lake / "raw_prices") == before  # every earlier file intact, no temp file beside them

    (small_disk / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    read_only = materialize_range([raw_prices], more, FIRST, LAST, raise_on_error=False)
    assert not read_only.success
    message = failure_text(read_only)
    assert "cannot write" in message and str(lake / "raw_prices") in message and "read-only" in message, message
    assert snapshot(lake / "raw_prices") == before

    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    again = materialize_range([raw_prices], more, FIRST, LAST)  # space back: the same run completes
    assert again.success and snapshot(lake / "raw_prices") != before

"""Bad input fails the real Dagster run with a message naming the problem, and writes nothing."""

import hashlib
import re
import shutil

import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_news, raw_prices
from tests.conftest import lake_files, lake_resources, materialize_range


def failure_text(result) -> str:
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)


@pytest.fixture
def replay_copy(tmp_path, replay_dir):
    folder = tmp_path / "replay"
    shutil.copytree(replay_dir, folder)
    return folder


def run_prices(lake, price_config):
    return materialize_range(
        [raw_prices], lake_resources(lake, price=price_config), "2014-01-01", "2014-01-31", raise_on_error=False
    )


def replace_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def edit_csv(path, edit):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls[:5] + [ls[5] + ",123"] + ls[6:], r"AAPL.csv: malformed CSV: .*line 6"),
        (lambda ls: [",".join(l.split(",")[:-1]) for l in ls], r"missing column\(s\) \['Volume'\]"),
        (lambda ls: ls[:300] + [replace_field(ls[300], 4, "n/a")] + ls[301:], r"row 2013-11-12 .* non-numeric values in \['close'\]"),
        (lambda ls: ls[:10] + ["2013-13-45" + ls[10][10:]] + ls[11:], r"line 11 has a bad date '2013-13-45'"),
    ],
    ids=["extra-field", "missing-column", "non-numeric", "bad-date"],
)
def test_malformed_price_csv(tmp_path, replay_copy, edit, message):
    edit_csv(replay_copy / "prices" / "AAPL.csv", edit)
    lake = tmp_path / "lake"
    result = run_prices(lake, {"replay_dir": str(replay_copy)})
    assert not result.success
    assert re.search(message, failure_text(result)), failure_text(result)
    assert lake_files(lake, "raw_prices") == []


def test_malformed_news_line(tmp_path, replay_copy):
    path = replay_copy / "news" / "MSFT.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:41] + ['{"datetime": 1389000000, "headline": '] + lines[41:]) + "\n")
    lake = tmp_path / "lake"
    result = materialize_range(
        [raw_news], lake_resources(lake, news={"replay_dir": str(replay_copy)}), "2014-01-01", "2014-01-31",
        raise_on_error=False,
    )
    assert "MSFT.jsonl:42: not valid JSON" in failure_text(result)
    assert lake_files(lake, "raw_news") == []


@pytest.mark.parametrize(
    "config, message",
    [
        ({"source": "yahoo"}, "unknown price source 'yahoo'; choose one of ('yfinance', 'replay', 'synthetic')"),
        ({"replay_dir": "/nonexistent/replay"}, "replay price folder /nonexistent/replay/prices does not exist"),
        ({"replay_dir": None}, "needs STOCK_REPLAY_DIR"),
        ({"symbols": ["AAPL", "NOPE"]}, "replay has no prices for NOPE"),
    ],
)
def test_bad_source_configuration(tmp_path, config, message):
    lake = tmp_path / "lake"
    result = run_prices(lake, config)
    assert message in failure_text(result)
    assert lake_files(lake, "raw_prices") == []


def test_live_price_api_failure_names_tickers(tmp_path):
    # The real yfinance client; this machine has no route to Yahoo, so every ticker comes back empty.
    lake = tmp_path / "lake"
    result = run_prices(lake, {"source": "yfinance", "symbols": ["AAPL", "MSFT"], "max_attempts": 2, "backoff_seconds": 0})
    assert "yfinance returned no prices for ['AAPL', 'MSFT']" in failure_text(result)
    assert lake_files(lake, "raw_prices") == []


def test_live_news_api_failure_keeps_the_key_secret(tmp_path, monkeypatch):
    key = "sk_test_DO_NOT_LOG_42"
    monkeypatch.setenv("FINNHUB_API_KEY", key)
    lake = tmp_path / "lake"
    result = materialize_range(
        [raw_news],
        lake_resources(lake, news={"source": "finnhub", "max_attempts": 2, "backoff_seconds": 0}),
        "2014-01-01", "2014-01-07", raise_on_error=False,
    )
    assert "Finnhub company_news SPY 2014-01-01..2014-01-07 failed after 2 attempt(s)" in failure_text(result)
    logged = "\n".join(str(e.message) for e in result.all_events) + failure_text(result)
    assert key not in logged
    assert lake_files(lake, "raw_news") == []


def test_a_failed_rerun_keeps_the_good_files(tmp_path, replay_copy):
    lake = tmp_path / "lake"
    assert run_prices(lake, {"replay_dir": str(replay_copy)}).success
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (lake / "raw_prices").iterdir()}
    edit_csv(replay_copy / "prices" / "MSFT.csv", lambda ls: ls[:100] + [ls[100] + ",1"] + ls[101:])
    assert not run_prices(lake, {"replay_dir": str(replay_copy)}).success
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (lake / "raw_prices").iterdir()}
    assert after == before


def saturday_row(lines: list[str]) -> list[str]:
    """A copy of 2014-01-10's row dated Saturday 2014-01-11."""
    friday = next(line for line in lines if line.startswith("2014-01-10,"))
    at = lines.index(friday)
    return lines[: at + 1] + ["2014-01-11" + friday[10:]] + lines[at + 1 :]


def test_a_row_on_a_saturday_fails_the_check_naming_symbol_and_day(tmp_path, replay_copy):
    edit_csv(replay_copy / "prices" / "MSFT.csv", saturday_row)
    lake = tmp_path / "lake"
    result = run_prices(lake, {"replay_dir": str(replay_copy)})
    assert not result.success  # blocking: nothing downstream runs on it
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "sessions_only")
    assert not check.passed and check.description == "rows on days that are not NYSE sessions: MSFT: 2014-01-11"
    assert check.metadata["off_calendar"].value == {"MSFT": "2014-01-11"}


def test_drop_mode_removes_off_calendar_rows_with_a_warning(tmp_path, replay_copy):
    edit_csv(replay_copy / "prices" / "MSFT.csv", saturday_row)
    lake = tmp_path / "lake"
    result = run_prices(lake, {"replay_dir": str(replay_copy), "off_calendar_rows": "drop"})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations() if c.check_name != "ohlc_consistent")
    assert pd.read_parquet(lake / "raw_prices" / "2014-01-11.parquet").empty  # a Saturday: an empty, valid day
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dropped_off_calendar_rows"].value == {"MSFT": "2014-01-11"}

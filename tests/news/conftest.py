import pytest

from stock_assets.news.random_bert import save_random_bert


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A tiny BERT with FinBERT's 3-label sentiment head and a real WordPiece vocabulary."""
    return save_random_bert(tmp_path_factory.mktemp("models") / "tiny-finbert")

"""chroma_collection against a real Chroma server (how it runs on Kubernetes: HttpClient)."""

import os
import sys

import httpx
import pytest

from stock_assets.news.resources import ChromaResource
from tests.news.test_news_assets import ASSETS, metadata_of, news_resources
from tests.conftest import materialize_range
from tests.servers import free_port, running, wait_until


@pytest.mark.slow
def test_collection_on_a_chroma_server(tmp_path, tiny_bert):
    port = free_port()
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    command = [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)]
    with running(command):
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).is_success, what="chroma")
        resources = news_resources(tmp_path, tiny_bert)
        resources["chroma"] = ChromaResource(host="127.0.0.1", port=port)
        result = materialize_range(ASSETS, resources, "2014-01-02", "2014-01-03")
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        store = resources["chroma"].store()
        assert store.collection.count() == metadata_of(result, "chroma_collection")["upserted"] > 0
        assert store.collection.configuration_json["hnsw"]["space"] == "cosine"
        assert store.recorded_embedder() == (str(tiny_bert), 32)  # the chatbot embeds questions with it

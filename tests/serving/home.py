"""A STOCK_HOME filled by the real assets and a real local Triton serving it: what the chatbot
API's tests, the UI's tests, the drills and the chat benchmark run against."""

import os
from contextlib import contextmanager

import dagster as dg
import httpx
import pytest

from stock_assets.export.assets import model_repository, onnx_model
from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.model.checkpoints import BEST, save_checkpoint
from stock_assets.model.network import build_model
from stock_assets.news.assets import chroma_collection, news_embeddings
from stock_assets.news.resources import ChromaResource, EmbedderResource
from stock_assets.settings import local_home
from stock_assets.track import registry
from stock_assets.track.assets import forecast_scores, served_forecasts
from stock_assets.track.resources import ServedModelResource
from stock_assets.training.assets import checkpoint_root, training_windows
from tests.conftest import REPO, lake_resources, materialize_range
from tests.servers import free_port, running, wait_until

TOKEN = "test-admin-token"


def fill_serving_home(home, tiny_bert, news=None) -> None:
    """STOCK_HOME (already set in the environment) filled by the real assets: replay prices,
    tiny-BERT news in the embedded Chroma store, a panel and an exported model (version 1)."""
    symbols = {"symbols": ["AAPL", "MSFT"]}
    resources = lake_resources(home / "lake", price=symbols, news={**symbols, **(news or {})})
    resources["embedder"] = EmbedderResource(model=str(tiny_bert))
    resources["chroma"] = ChromaResource()
    assets = [raw_prices, raw_news, news_embeddings, chroma_collection]
    assert materialize_range(assets, resources, "2014-01-01", "2014-06-30").success
    assert dg.materialize([training_windows, *assets], selection=[training_windows], resources=resources).success
    model = build_model("tiny", news_dim=32)
    state = {"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 0, "watermark": "2014-06-30"}
    save_checkpoint(state, checkpoint_root() / BEST)
    assert dg.materialize([onnx_model]).success
    # a month of live record: version 1 as if deployed when the data reached 2014-05-30
    registry.register(local_home(), 1, model_repository() / "1" / "model.onnx", watermark="2014-05-30", data_until="2014-05-30",
                      network="news network")
    resources["served_model"] = ServedModelResource(triton_url=f"http://127.0.0.1:{free_port()}")  # Triton starts later
    assert materialize_range([served_forecasts], resources, "2014-06-02", "2014-06-30").success
    assert materialize_range([forecast_scores], resources, "2014-06-03", "2014-06-30").success


def triton_command(http_port: int) -> list[str]:
    """The local Triton (its own venv) serving STOCK_HOME's model repository."""
    return [str(REPO / ".venv-triton" / "bin" / "python"), "-m", "stock_serving.triton_local.serve",
            "--http-port", str(http_port), "--grpc-port", str(free_port()), "--load"]


def triton_ready(url: str) -> bool:
    return httpx.get(f"{url}/v2/models/stock_predictor/ready").status_code == 200


@contextmanager
def serving_home(home, tiny_bert, news=None):
    """A filled STOCK_HOME and a real local Triton serving it. Yields (triton_url, home) with the env set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCK_HOME", str(home))
        fill_serving_home(home, tiny_bert, news)
        port = free_port()
        with running(triton_command(port), env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO):
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: triton_ready(url), 120, "triton")
            patch.setenv("TRITON_URL", url)
            patch.setenv("STOCK_EMBEDDER", str(tiny_bert))
            patch.setenv("CHATBOT_ADMIN_TOKEN", TOKEN)
            patch.delenv("LLM_BASE_URL", raising=False)
            yield url, home

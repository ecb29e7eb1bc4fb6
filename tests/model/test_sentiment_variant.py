"""The sentiment variant trains through the real entry point on a real-price panel and keeps its
checkpoints apart from the ones export reads (it is an experiment: bench/sentiment_ablation.py)."""

from datetime import date

import numpy as np
import pandas as pd

from stock_assets.ingest.prices import ReplayPriceSource
from stock_assets.model import train
from stock_assets.model.checkpoints import BEST, load_checkpoint
from stock_assets.model.panel import save_panel
from stock_assets.training.windows import build_panel


def test_the_sentiment_variant_trains_on_the_tone_and_writes_its_own_checkpoints(replay_dir, tmp_path):
    prices = ReplayPriceSource(replay_dir).fetch(["AAPL", "MSFT", "SPY"], date(2014, 1, 1), date(2014, 12, 31))
    rng = np.random.default_rng(0)
    days = []
    for day in pd.bdate_range("2014-01-02", "2014-12-20"):
        frame = pd.DataFrame({"symbol": ["AAPL", "MSFT"], "published_at": [day.tz_localize("America/New_York") + pd.Timedelta(hours=10)] * 2})
        frame.attrs["vectors"] = rng.normal(size=(2, 8)).astype(np.float32)
        frame["sentiment_positive"], frame["sentiment_negative"] = rng.uniform(0, 0.5, 2), rng.uniform(0, 0.5, 2)
        days.append(frame)
    save_panel(tmp_path / "panel", build_panel(prices, days, validation_start="2014-08-01", test_start="2014-10-15"))
    train.main(["--panel", str(tmp_path / "panel"), "--checkpoints", str(tmp_path / "checkpoints"), "--variant", "sentiment",
                "--size", "tiny", "--epochs", "2", "--batch-size", "32"])
    assert not (tmp_path / "checkpoints" / BEST).exists()  # export's news and price folders stay untouched
    state = load_checkpoint(tmp_path / "checkpoints" / "price_sentiment" / BEST)
    assert state["variant"] == "sentiment" and state["model_config"]["sentiment"] and not state["model_config"]["use_news"]
    assert float(state["model_state"]["sentiment_path.weight"].abs().sum()) > 0  # the tone's path was trained
    assert state["metrics"]["model"]["mae"] > 0 and len(state["test_predictions"]["actual"]) > 0

"""Where served forecasts come from: Triton, asked for the exact version served that day."""

from __future__ import annotations

import dagster as dg
import numpy as np

from stock_assets.track.registry import archived_model

TRITON_BATCH = 64  # config.pbtxt's max_batch_size


class ServedModelResource(dg.ConfigurableResource):
    """Forecasts of a registered version: from Triton when it has that version loaded (what users
    were served), else from the version's archived ONNX file in onnxruntime (the same file Triton
    loaded; Triton keeps only the newest version loaded, so backfilling older days needs it)."""

    triton_url: str = "http://127.0.0.1:8000"

    def forecast(self, home, version: int, price: np.ndarray, news: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        from stock_assets.export.triton_client import TritonForecaster

        triton = TritonForecaster(self.triton_url)
        if triton.version_ready(version):
            parts = [triton.forecast(price[i : i + TRITON_BATCH], news[i : i + TRITON_BATCH], version)
                     for i in range(0, len(price), TRITON_BATCH)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), "triton"
        path = archived_model(home, version)
        if not path.exists():
            raise FileNotFoundError(f"version {version} is neither loaded in Triton at {self.triton_url} nor archived at {path}")
        from stock_assets.export.onnx_export import onnx_session

        closes, quantiles = onnx_session(path).run(["forecast", "forecast_quantiles"], {"price_input": price, "news_input": news})
        return closes, quantiles, "onnxruntime (archived file)"

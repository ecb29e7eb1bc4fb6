"""Client for the `stock_predictor` model on Triton (KServe v2 over HTTP, tritonclient)."""

from __future__ import annotations

import threading

import numpy as np
import tritonclient.http as triton_http

MODEL_NAME = "stock_predictor"
OUTPUTS = ("forecast", "forecast_quantiles")


class TritonForecaster:
    """Thread-safe: tritonclient's HTTP client (gevent) must stay on the thread that made it,
    and web servers call from a pool of threads, so each thread gets its own."""

    def __init__(self, url: str = "http://127.0.0.1:8000", timeout_s: float = 10.0):
        self.url, self.timeout_s = url, timeout_s
        self._local = threading.local()

    @property
    def client(self) -> triton_http.InferenceServerClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = triton_http.InferenceServerClient(
                self.url.split("://", 1)[-1], connection_timeout=self.timeout_s, network_timeout=self.timeout_s
            )
            self._local.client = client
        return client

    def drop_client(self) -> None:
        """Forget this thread's connection after a failure: a restarted Triton gets a fresh one."""
        self._local.client = None

    def ready(self) -> bool:
        try:
            return bool(self.client.is_model_ready(MODEL_NAME))
        except Exception:  # noqa: BLE001 - unreachable or not loaded both mean "not ready"
            self.drop_client()
            return False

    def version_ready(self, version: int | str) -> bool:
        try:
            return bool(self.client.is_model_ready(MODEL_NAME, str(version)))
        except Exception:  # noqa: BLE001 - unreachable, unknown or unloaded version alike
            self.drop_client()
            return False

    def model_version(self) -> str | None:
        """The version Triton serves (the highest ready one)."""
        index = self.client.get_model_repository_index()
        ready = [int(m["version"]) for m in index if m.get("name") == MODEL_NAME and m.get("state") == "READY" and m.get("version")]
        return str(max(ready)) if ready else None

    def forecast(self, price: np.ndarray, news: np.ndarray, version: int | str = "") -> tuple[np.ndarray, np.ndarray]:
        """price [B, 30, 1] raw closes, news [B, 30, D] -> the next 5 closes [B, 5] and their
        10/50/90 % quantiles [B, 5, 3], from `version` (the highest ready one when empty)."""
        price = np.ascontiguousarray(price, dtype=np.float32)
        news = np.ascontiguousarray(news, dtype=np.float32)
        inputs = [
            triton_http.InferInput("price_input", list(price.shape), "FP32"),
            triton_http.InferInput("news_input", list(news.shape), "FP32"),
        ]
        inputs[0].set_data_from_numpy(price, binary_data=True)
        inputs[1].set_data_from_numpy(news, binary_data=True)
        outputs = [triton_http.InferRequestedOutput(name, binary_data=True) for name in OUTPUTS]
        try:
            result = self.client.infer(MODEL_NAME, inputs, model_version=str(version), outputs=outputs)
        except Exception:
            self.drop_client()
            raise
        return result.as_numpy(OUTPUTS[0]), result.as_numpy(OUTPUTS[1])

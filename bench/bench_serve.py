"""Serving latency and throughput: the local Triton (the same model.onnx via its Python backend)
against in-process onnxruntime, in the same run, on the seed-sized model (D=768).

Prints p50/p99 latency at batch 1 and throughput with 32 requests in flight (tritonclient aio).
    .venv/bin/python bench/bench_serve.py [--requests 400]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from stock_assets.export.onnx_export import OUTPUTS, export_onnx, onnx_session, random_batch  # noqa: E402
from stock_assets.export.triton_repository import publish  # noqa: E402
from stock_assets.model.network import build_model  # noqa: E402
from stock_assets.export.triton_client import TritonForecaster  # noqa: E402
from tests.servers import free_port, running, wait_until  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed_calls(call, n: int) -> list[float]:
    for _ in range(10):
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def local_throughput(session, price, news, n: int, in_flight: int = 32) -> float:
    feed = {"price_input": price, "news_input": news}
    with ThreadPoolExecutor(in_flight) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: session.run(list(OUTPUTS), feed), range(n)))
        return n / (time.perf_counter() - start)


async def triton_throughput(url: str, price, news, n: int, in_flight: int = 32) -> float:
    import tritonclient.http.aio as aio

    client = aio.InferenceServerClient(url.split("://", 1)[1], conn_limit=in_flight)
    inputs = [aio.InferInput("price_input", list(price.shape), "FP32"), aio.InferInput("news_input", list(news.shape), "FP32")]
    inputs[0].set_data_from_numpy(price, binary_data=True)
    inputs[1].set_data_from_numpy(news, binary_data=True)
    gate = asyncio.Semaphore(in_flight)

    async def one():
        async with gate:
            await client.infer("stock_predictor", inputs)

    await asyncio.gather(*(one() for _ in range(20)))
    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    seconds = time.perf_counter() - start
    await client.close()
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    triton_python = REPO / ".venv-triton" / "bin" / "python"
    with tempfile.TemporaryDirectory() as home:
        os.environ["STOCK_HOME"] = home
        model = build_model("base", news_dim=768).eval()
        export_onnx(model, Path(home) / "model.onnx")
        publish(Path(home) / "models" / "stock_predictor", Path(home) / "model.onnx", 768)
        session = onnx_session(Path(home) / "model.onnx")
        price, news = random_batch(1, 768, seed=0)
        local_lat = timed_calls(lambda: session.run(list(OUTPUTS), {"price_input": price, "news_input": news}), args.requests)
        local_tput = local_throughput(session, price, news, args.requests)
        port = free_port()
        command = [str(triton_python), "-m", "stock_serving.triton_local.serve", "--http-port", str(port), "--grpc-port", str(free_port()), "--load"]
        with running(command, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO):
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: httpx.get(f"{url}/v2/models/stock_predictor/ready").status_code == 200, 120, "triton")
            client = TritonForecaster(url)
            triton_lat = timed_calls(lambda: client.forecast(price, news), args.requests)
            triton_tput = asyncio.run(triton_throughput(url, price, news, args.requests))
    lp50, lp99 = percentiles(local_lat)
    tp50, tp99 = percentiles(triton_lat)
    print("seed-sized model (d=256, 4 layers, D=768), batch 1, CPU, 2 cores")
    print(f"in-process onnxruntime: p50 {lp50:6.2f} ms  p99 {lp99:6.2f} ms  throughput (32 in flight) {local_tput:7.1f} req/s")
    print(f"local Triton (HTTP):    p50 {tp50:6.2f} ms  p99 {tp99:6.2f} ms  throughput (32 in flight) {triton_tput:7.1f} req/s")
    print(f"Triton throughput / in-process: {triton_tput / local_tput:.0%}")


if __name__ == "__main__":
    main()

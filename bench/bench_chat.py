"""Chatbot API latency: p50/p95 of /v1/forecast, /v1/news/search and /v1/chat without an LLM, and
/v1/chat with the local LLM (llama.cpp, SmolLM2-135M, 1 thread), over real HTTP (uvicorn), with
the real local Triton and embedded Chroma filled by the real assets (replay data, tiny BERT).
    .venv/bin/python bench/bench_chat.py [--requests 50]
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("STOCK_START_DATE", "2014-01-01")
os.environ.setdefault("STOCK_END_DATE", "2016-01-01")
warnings.filterwarnings("ignore")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from stock_assets.news.random_bert import save_random_bert  # noqa: E402
from stock_serving.local_llm import MODEL_ALIAS, command  # noqa: E402
from tests.serving.home import serving_home  # noqa: E402
from tests.servers import free_port, running, wait_until  # noqa: E402


def measure(call, n: int) -> tuple[float, float]:
    call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        answer = call()
        samples.append(time.perf_counter() - start)
        assert answer.status_code == 200, answer.text[:300]
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--llm-requests", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bert = save_random_bert(Path(tmp) / "tiny")
        with serving_home(Path(tmp) / "home", bert):
            llm_port, api_port = free_port(), free_port()
            with running(command(llm_port), cwd=REPO):
                wait_until(lambda: httpx.get(f"http://127.0.0.1:{llm_port}/v1/models").status_code == 200, 180, "llm")
                rows = []
                for label, llm in (("without LLM", None), ("with local LLM", f"http://127.0.0.1:{llm_port}/v1")):
                    env = {**os.environ, "LLM_MODEL": MODEL_ALIAS}
                    env.pop("LLM_BASE_URL", None)
                    if llm:
                        env["LLM_BASE_URL"] = llm
                    api = [sys.executable, "-m", "uvicorn", "stock_serving.api:app", "--host", "127.0.0.1", "--port", str(api_port)]
                    with running(api, cwd=REPO, env=env):
                        base = f"http://127.0.0.1:{api_port}"
                        wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 120, "api")
                        http = httpx.Client(base_url=base, timeout=300)
                        chat = lambda: http.post("/v1/chat", json={"message": "What does the model expect for AAPL?"})  # noqa: E731
                        if llm is None:
                            rows.append(("GET /v1/forecast/AAPL", *measure(lambda: http.get("/v1/forecast/AAPL"), args.requests)))
                            rows.append(("GET /v1/news/search", *measure(lambda: http.get("/v1/news/search", params={"q": "iphone sales", "k": 5}), args.requests)))
                            rows.append(("POST /v1/chat, no LLM", *measure(chat, args.requests)))
                        else:
                            rows.append(("POST /v1/chat, SmolLM2-135M", *measure(chat, args.llm_requests)))
    print("endpoint                         p50 ms    p95 ms")
    for name, p50, p95 in rows:
        print(f"{name:30s} {p50:8.1f}  {p95:8.1f}")


if __name__ == "__main__":
    main()

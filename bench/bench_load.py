"""Load on the chatbot API over loopback: N requests (forecast, news search, chat in turn) with C in
flight, against the whole serving stack as production runs it (Triton, a Chroma server, the local
LLM llama.cpp/SmolLM2-135M, the API as a uvicorn process; replay data, tiny BERT), after the same
mix sent one at a time (the baseline of the same run). Prints statuses, p50/p95 latency and
throughput per kind, and how many chats the LLM answered vs got the stated busy fallback.

    .venv/bin/python bench/bench_load.py [--requests 200] [--concurrency 20] [--baseline 30]
        [--llm-concurrency 2] [--llm-queue-timeout 10]
"""

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("STOCK_START_DATE", "2014-01-01")
os.environ.setdefault("STOCK_END_DATE", "2016-01-01")
warnings.filterwarnings("ignore")

from machine import cpu_flags  # noqa: E402
from stock_assets.news.random_bert import save_random_bert  # noqa: E402
from tests.drills.load import drive, requests, summary, table  # noqa: E402
from tests.drills.stack import serving_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=30, help="requests of the same mix sent one at a time first")
    parser.add_argument("--llm-concurrency", type=int, default=2)
    parser.add_argument("--llm-queue-timeout", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="client timeout per request (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bert = save_random_bert(Path(tmp) / "tiny-bert")
        with serving_stack(Path(tmp) / "home", bert, LLM_CONCURRENCY=args.llm_concurrency,
                           LLM_QUEUE_TIMEOUT=args.llm_queue_timeout, LLM_TIMEOUT=60) as stack:
            symbols = ["AAPL", "MSFT"]
            base, base_wall = drive(stack.api, requests(args.baseline, symbols), 1, args.timeout)
            loaded, wall = drive(stack.api, requests(args.requests, symbols), args.concurrency, args.timeout)
    print(f"CPU: {os.cpu_count()} cores, flags {cpu_flags()}; LLM_CONCURRENCY={args.llm_concurrency}, "
          f"LLM_QUEUE_TIMEOUT={args.llm_queue_timeout:g} s\n")
    print(f"Baseline: {args.baseline} requests one at a time\n")
    print(table(summary(base, base_wall)))
    print(f"\nLoad: {args.requests} requests, {args.concurrency} in flight\n")
    figures = summary(loaded, wall)
    print(table(figures))
    print(f"\nThroughput under load / one at a time: {figures['all']['throughput'] / summary(base, base_wall)['all']['throughput']:.2f}x")


if __name__ == "__main__":
    main()

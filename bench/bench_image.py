"""The project image: its size, what fills it, and how fast a process starts in it.

Prints the image size (and the compressed size a node pulls), the largest packages, and the time
to import the code location in a fresh container with the .pyc files the image keeps against the
same container with them removed (the baseline, measured in the same run): the reason the image
keeps 0.5 GB of bytecode.

    make image && .venv/bin/python bench/bench_image.py [--image ghcr.io/example/stock-news:0.1.0]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from machine import cpu_flags  # noqa: E402
from tests.image.engine import ENGINE, engine_env, image_tag  # noqa: E402

IMPORT = "import time, warnings; warnings.simplefilter('ignore'); t = time.perf_counter(); import stock_assets.definitions; print(time.perf_counter() - t)"


def engine(*args: str, **popen) -> subprocess.CompletedProcess:
    if ENGINE is None:
        raise SystemExit("no container engine: install podman (apt-get install podman runc) or docker")
    return subprocess.run([ENGINE, *args], capture_output=True, text=True, check=True, env=engine_env(), **popen)


def sh(image: str, script: str, user: str | None = None) -> str:
    return engine("run", "--rm", "--network", "none", *(["-u", user] if user else []), image, "sh", "-c", script).stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image", default=f"ghcr.io/example/stock-news:{image_tag()}")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    size = int(engine("image", "inspect", args.image, "--format", "{{.Size}}").stdout.strip())
    save = subprocess.Popen([ENGINE, "save", args.image], stdout=subprocess.PIPE, env=engine_env())
    gzip = subprocess.run(["gzip", "-1"], stdin=save.stdout, capture_output=True, check=True)
    save.wait()
    print(f"# {args.image} on {platform.machine()}, {os.cpu_count()} cores ({cpu_flags()})")
    print(f"image size {size / 1e6:.0f} MB uncompressed, {len(gzip.stdout) / 1e6:.0f} MB gzip -1 (what a node pulls, roughly)")
    site = "/opt/venv/lib/python3.11/site-packages"
    print(sh(args.image, "du -sm /opt/venv /usr | sort -rn"), end="")
    print("largest packages (MB):")
    print(sh(args.image, f"cd {site} && du -sm * | sort -rn | head -12"), end="")
    print("bytecode (MB):", sh(args.image, f"du -smc $(find {site} -name __pycache__ -prune) | tail -1").split()[0])

    with_pyc = [float(sh(args.image, f'python -c "{IMPORT}"')) for _ in range(args.repeats)]
    without = [float(sh(args.image, f'find /opt/venv -name __pycache__ -prune -exec rm -rf {{}} +; python -c "{IMPORT}"', user="0"))
               for _ in range(args.repeats)]
    a, b = statistics.median(with_pyc), statistics.median(without)
    print(f"import stock_assets.definitions in a fresh container: {a:.2f} s with the image's .pyc, "
          f"{b:.2f} s without (baseline) -> {b / a:.2f}x faster start (median of {args.repeats})")


if __name__ == "__main__":
    main()

"""What the benchmarks print about the machine their figures come from."""

import re
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def cpu_flags() -> str:
    """The CPU features that decide inference speed here (from /proc/cpuinfo)."""
    info = Path("/proc/cpuinfo")
    found = re.search(r"^flags\s*:(.*)$", info.read_text(), re.M) if info.exists() else None
    flags = set(found.group(1).split()) if found else set()
    return ", ".join(f for f in FLAGS if f in flags) or "unknown"

"""Who left a temp file, staging folder or cache claim behind, and is that process gone?

A process killed with SIGKILL cleans nothing up. Leftovers are named by their owner (pid, the
process's start time, host), so the next writer on the same host can tell a dead owner's from a
live one's and remove or take over only the dead ones. Owners on other hosts (other pods) cannot
be probed: their leftovers wait for a lease or stay as hidden files. No Dagster here: the
training pods use it too.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

SEPARATOR = "~"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): tells
    a reused pid from the original process. None when the process does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


_process: tuple[int, str, str] | None = None


def _this_process() -> tuple[int, str, str]:
    """(pid, start time, host), recomputed after a fork. Dots and the separator are replaced in
    the host name so a tag survives being embedded in a dotted file name."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:
        host = socket.gethostname().replace(SEPARATOR, "-").replace(".", "-")
        _process = (pid, _start_time(pid) or "0", host)
    return _process


def owner_tag() -> str:
    """`<pid>~<start>~<host>~<random>`: unique per call, parseable by `owner_is_dead`."""
    pid, start, host = _this_process()
    return SEPARATOR.join((str(pid), start, host, uuid.uuid4().hex[:12]))


def owner_is_dead(tag: str) -> bool:
    """True only when the owner ran on this host and its process is gone (or its pid now
    belongs to another process). Unknown formats and other hosts: False (cannot tell)."""
    parts = tag.split(SEPARATOR)
    if len(parts) != 4 or not parts[0].isdigit():
        return False
    pid, start, host, _ = parts
    if host != _this_process()[2] or not Path("/proc").is_dir():
        return False
    return _start_time(int(pid)) != start


def temp_name(final_name: str) -> str:
    """A hidden sibling name for writing `final_name` before the atomic rename."""
    return f".{final_name}.{owner_tag()}.tmp"


def remove_dead_leftovers(folder: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove hidden leftovers (`.<name>.<owner>{suffix}`) in `folder` whose owner is dead on
    this host; returns what was removed. Files and folders alike."""
    import shutil

    removed = []
    try:
        entries = [p for p in Path(folder).iterdir() if p.name.startswith(".") and p.name.endswith(suffix)]
    except OSError:
        return removed
    for path in entries:
        tag = path.name[: len(path.name) - len(suffix)].rsplit(".", 1)[-1] if suffix else path.name.rsplit(".", 1)[-1]
        if owner_is_dead(tag):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed

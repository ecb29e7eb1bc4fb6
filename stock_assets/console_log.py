"""The terminal of a long command (`make demo`, `make replay-days`): its own lines on the
console, everything else (Dagster's events at DEBUG, library output, child processes) in
STOCK_HOME/logs/<name>-<time>.log, with the log's progress lines echoed while a step runs."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from stock_assets.instance import ensure_local_instance

CONSOLE = None  # the terminal, once everything else goes to the log file


def say(message: str) -> None:
    print(message, file=CONSOLE or sys.stdout, flush=True)


# Lines of the log worth showing while a long step runs: embedding progress, training epochs.
PROGRESS = re.compile(r" - (?:news_embeddings - (embedding \d+/\d+ headlines.*)|model_checkpoint - ((?:news|price-only) model epoch .*))$")


def follow(path: Path, stop: threading.Event) -> None:
    """Echo the log's progress lines to the terminal as they are written."""
    with open(path, errors="replace") as log:
        log.seek(0, os.SEEK_END)
        while True:
            line = log.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.2)
                continue
            found = PROGRESS.search(line.rstrip("\n"))
            if found:
                say(f"    {found.group(1) or found.group(2)}")


@contextmanager
def output_to_log(path: Path):
    """The terminal keeps the demo's own lines; the process's stdout and stderr (Dagster's events
    at DEBUG, library output, the torchrun workers it starts) go to the log file."""
    global CONSOLE
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    CONSOLE = os.fdopen(os.dup(1), "w", buffering=1)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        stop = threading.Event()
        follower = threading.Thread(target=follow, args=(path, stop), daemon=True)
        follower.start()
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            stop.set()
            follower.join(timeout=5)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            CONSOLE.close()
            CONSOLE = None


@contextmanager
def step(title: str):
    say(f"\n==> {title}")
    started = time.perf_counter()
    yield
    say(f"    done in {time.perf_counter() - started:.1f} s")


def quiet() -> None:
    """Keep the console to what a user can act on: library beta/preview/tracer warnings and
    third-party log lines go (children too); every event stays in the Dagster event log. An
    offline demo's instance gets the local dagster.yaml (stock_assets/instance.py) unless it has one."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    logging.getLogger().setLevel(logging.ERROR)
    ensure_local_instance(os.environ["DAGSTER_HOME"])


@contextmanager
def log_to_file(home: Path, name: str):
    """Dagster's events and library output to STOCK_HOME/logs/<name>-<time>.log; the terminal
    keeps the command's own lines, and a failure's reason with the log's path."""
    os.environ.setdefault("DAGSTER_HOME", str(home / "dagster"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    quiet()
    log = home / "logs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        with output_to_log(log):
            yield log
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        say(f"{name.upper()} FAILED: {reason}\nFull log:    {log}")
        raise SystemExit(1) from None

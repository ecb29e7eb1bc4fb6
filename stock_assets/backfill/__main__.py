"""Launch a backfill of any asset selection over a range of days and follow it to the end:

    python -m stock_assets.backfill --assets raw_news,news_embeddings --from 2014-01-01 --to 2014-01-31

It goes through the running Dagster webserver (`make dev`) when one answers at --url, as the UI's
launch does; when none does, it starts the instance's webserver and daemon (same DAGSTER_HOME and
settings) for the duration and stops them afterwards. One progress line (partitions materialized
and failed per asset, runs done/failed/running, ETA); exit status 1 when any run failed, naming it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from stock_assets.backfill.graphql import (
    DAEMONS, RUN_DONE, RUN_FAILED, BackfillError, DagsterGraphQL, Progress, describe_run, launch, progress, runs)
from stock_assets.instance import WORKSPACE, dagster_cli_options, ensure_local_instance
from stock_assets.processes import free_port, running, wait_until

HEARTBEAT_S = 30  # dagster-daemon's heartbeat interval


def day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


@contextmanager
def dagster_instance(url: str, log_path: Path):
    """The webserver at `url` when it answers; else a temporary webserver (and the daemon, when
    none is running for this instance) on this machine's DAGSTER_HOME, stopped on exit."""
    api = DagsterGraphQL(url)
    if api.up():
        print(f"using the Dagster webserver at {url}", flush=True)
        yield api
        return
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise BackfillError(f"no Dagster webserver answers at {url} and DAGSTER_HOME is not set to start one")
    ensure_local_instance(home)
    bin_dir = Path(sys.executable).parent
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab"))
        print(f"no Dagster webserver at {url}: starting one and the daemon on DAGSTER_HOME={home} (log: {log_path})", flush=True)
        dagster = dagster_cli_options(home)
        stack.enter_context(running([str(bin_dir / "dagster-webserver"), "-w", str(WORKSPACE), "-h", "127.0.0.1",
                                     "-p", str(port)], stdout=log, stderr=log, **dagster))
        api = DagsterGraphQL(f"http://127.0.0.1:{port}")
        wait_until(api.up, 300, "the Dagster webserver")
        if not backfill_daemon_alive(api):
            stack.callback(forget_daemon_heartbeats)  # exit runs last-in first: after the daemon has stopped
            stack.enter_context(running([str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
                                        stdout=log, stderr=log, **dagster))
        yield api


def backfill_heartbeat(api: DagsterGraphQL) -> float | None:
    daemons = api.query(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return next((d["lastHeartbeatTime"] for d in daemons if d["daemonType"] == "BACKFILL"), None)


def backfill_daemon_alive(api: DagsterGraphQL) -> bool:
    """Whether a daemon serves this instance now. Dagster calls a daemon healthy for 30 minutes
    after its last heartbeat, so a stopped one looks alive: only a new heartbeat (one every
    HEARTBEAT_S) proves it."""
    first = backfill_heartbeat(api)
    if first is None:
        return False
    deadline = time.monotonic() + HEARTBEAT_S + 10
    while time.monotonic() < deadline:
        if (backfill_heartbeat(api) or 0) > first:
            return True
        time.sleep(2)
    return False


def forget_daemon_heartbeats() -> None:
    """The daemon this command ran is gone: its heartbeats must not make the next command wait."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        instance.wipe_daemon_heartbeats()


def eta(state: Progress, started: float) -> str:
    done = state.materialized + state.failed
    if not done or done >= state.targeted:
        return "ETA --"
    seconds = (time.monotonic() - started) / done * (state.targeted - done)
    return f"ETA {int(seconds // 60)}m{int(seconds % 60):02d}s"


def line(state: Progress, run_list: list[dict], started: float) -> str:
    statuses = [r["status"] for r in run_list]
    done, failed = sum(s in RUN_DONE for s in statuses), sum(s in RUN_FAILED for s in statuses)
    assets = ", ".join(f"{a} {m}/{t}" for a, (m, t) in state.per_asset.items())
    return (f"[{time.monotonic() - started:6.0f} s] {state.status.lower()}: partitions {state.materialized}/{state.targeted} "
            f"materialized, {state.failed} failed ({assets}); runs {done} done, {failed} failed, "
            f"{len(statuses) - done - failed} queued/running; {eta(state, started)}")


def follow(api: DagsterGraphQL, backfill_id: str, poll_s: float, timeout_s: float) -> tuple[Progress, list[dict]]:
    started, last_print, tty = time.monotonic(), 0.0, sys.stdout.isatty()
    while True:
        state, run_list = progress(api, backfill_id), runs(api, backfill_id)
        text = line(state, run_list, started)
        if tty:
            print("\r" + text.ljust(150), end="", flush=True)
        elif state.finished or time.monotonic() - last_print >= 10:
            print(text, flush=True)
            last_print = time.monotonic()
        if state.finished and not any(r["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED") for r in run_list):
            if tty:
                print()
            return state, run_list
        if time.monotonic() - started > timeout_s:
            raise BackfillError(f"backfill {backfill_id} still {state.status} after {timeout_s:.0f} s (it goes on in Dagster)")
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", required=True, help="comma-separated asset keys, e.g. raw_news,news_embeddings")
    parser.add_argument("--from", dest="first", type=day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=day, required=True, help="last day (inclusive), YYYY-MM-DD")
    parser.add_argument("--url", default=os.environ.get("DAGSTER_URL", "http://127.0.0.1:3000"),
                        help="a running Dagster webserver (make dev); default DAGSTER_URL or http://127.0.0.1:3000")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between progress reads")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up following after this many seconds")
    args = parser.parse_args(argv)
    assets = [a.strip() for a in args.assets.split(",") if a.strip()]
    if not assets:
        parser.error("--assets names no asset")
    if args.first > args.last:
        parser.error(f"--from {args.first} is after --to {args.last}")
    log_path = Path(os.environ.get("DAGSTER_HOME", ".")) / "backfill-logs" / f"backfill-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        with dagster_instance(args.url, log_path) as api:
            backfill_id = launch(api, assets, args.first, args.last)
            print(f"backfill {backfill_id}: {', '.join(assets)} over {args.first}...{args.last} ({api.url}/runs/b/{backfill_id})",
                  flush=True)
            state, run_list = follow(api, backfill_id, args.poll, args.timeout)
    except (BackfillError, TimeoutError) as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in run_list if r["status"] in RUN_FAILED]
    for run in failed:
        print(f"failed run {describe_run(run)}: {api.url}/runs/{run['runId']}", file=sys.stderr)
    if state.error:
        print(f"backfill {backfill_id} error: {state.error}", file=sys.stderr)
    if failed or state.failed or state.status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        print(f"backfill {backfill_id} ended {state.status}: {len(failed)} run(s) failed, {state.failed} partition(s) failed",
              file=sys.stderr)
        return 1
    print(f"backfill {backfill_id} completed: {state.materialized}/{state.targeted} partitions in {len(run_list)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make replay-days`: days of operation, replayed. From the session after the data in the lake,
the platform runs forward one session at a time as the daily automation would: ingest the day's
prices and news, embed and index them, rebuild the training panel, forecast with the served
version (Triton), score the forecasts whose outcome arrived, recalibrate the intervals from the
record; every `retrain_every` sessions train and export through the gate; the deploy and
demotion sensors are evaluated after each day and their runs executed. Every step is a real
materialization in the STOCK_HOME instance, so `make dev` shows them; it ends with the scoreboard.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date, timedelta

DAILY = ["raw_prices", "raw_news", "news_embeddings", "chroma_collection", "training_windows", "served_forecasts", "forecast_scores"]
TRAIN = ["model_checkpoint", "onnx_model"]


class Replay:
    """The platform's definitions run against one instance, as the daemon would run them."""

    def __init__(self, triton_url: str, epochs: int, size: str, log_level: str = "INFO"):
        import dagster as dg

        from stock_assets.definitions import build_definitions
        from stock_assets.deploy.resources import TritonDeployer
        from stock_assets.settings import local_home
        from stock_assets.track.resources import ServedModelResource

        self.dg = dg
        self.defs = build_definitions()
        self.assets = {a.key.to_user_string(): a for a in self.defs.assets}
        self.resources = {**self.defs.resources, "served_model": ServedModelResource(triton_url=triton_url),
                          "triton": TritonDeployer(url=triton_url, local_repository=str(local_home() / "triton_local" / "repository"))}
        self.instance = dg.DagsterInstance.get()
        self.epochs, self.size = epochs, size
        self.console = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        self.cursors = {"triton_deploy_sensor": self.latest_storage_id("onnx_model"),
                        "demotion_sensor": self.latest_storage_id("forecast_scores")}
        self.events: list[str] = []

    def latest_storage_id(self, asset: str) -> str:
        records = self.instance.fetch_materializations(self.dg.AssetKey(asset), limit=1, ascending=False).records
        return str(records[0].storage_id) if records else "0"

    def materialize(self, selection: list[str], tags: dict | None = None, run_config: dict | None = None):
        upstream = set(selection)
        for name in selection:  # the non-selected upstream assets the run loads from the lake
            upstream |= {k.to_user_string() for k in self.assets[name].dependency_keys}
        result = self.dg.materialize([self.assets[n] for n in upstream if n in self.assets], selection=[self.assets[n] for n in selection],
                                     resources=self.resources, instance=self.instance, tags=tags, raise_on_error=False,
                                     run_config={**(run_config or {}), **self.console})
        if not result.success:
            failure = result.get_step_failure_events()
            raise SystemExit(f"replay step {selection} failed: {failure[0].step_failure_data.error.message if failure else 'see the event log'}")
        return result

    def day(self, first: str, last: str):
        """One session's daily runs: the calendar days since the previous session, in one run."""
        return self.materialize(DAILY, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})

    def retrain(self):
        config = {"ops": {"model_checkpoint": {"config": {"epochs": self.epochs, "size": self.size, "ablation": True}}}}
        return self.materialize(TRAIN, run_config=config)

    def sensors(self) -> list[str]:
        """Evaluate the demotion and deploy sensors and execute what they request, as the daemon does."""
        from stock_assets.deploy.sensors import deploy_triton_job, triton_deploy_sensor
        from stock_assets.track.sensors import demotion_sensor

        done = []
        context = self.dg.build_sensor_context(instance=self.instance, cursor=self.cursors["demotion_sensor"])
        for request in demotion_sensor(context):
            if isinstance(request, self.dg.RunRequest):
                self.materialize(["onnx_model"], run_config=request.run_config, tags=request.tags)
                reason = request.run_config["ops"]["onnx_model"]["config"]["demote_reason"]
                done.append(f"demoted: {reason}")
        self.cursors["demotion_sensor"] = context.cursor or self.cursors["demotion_sensor"]
        context = self.dg.build_sensor_context(instance=self.instance, cursor=self.cursors["triton_deploy_sensor"],
                                               resources={"triton": self.resources["triton"]})
        for request in triton_deploy_sensor(context):
            if isinstance(request, self.dg.RunRequest):
                run = deploy_triton_job.execute_in_process(run_config=request.run_config, instance=self.instance, tags=request.tags,
                                                           resources={"triton": self.resources["triton"]})
                version = request.run_config["ops"]["deploy_model_to_triton"]["config"]["version"]
                served_from = run.output_for_node("deploy_model_to_triton")["served_from"]
                done.append(f"deployed v{version} (serves from {served_from})")
        self.cursors["triton_deploy_sensor"] = context.cursor or self.cursors["triton_deploy_sensor"]
        self.events += done
        return done


def replay_sessions(start: str, count: int) -> list[str]:
    """The first `count` sessions from `start` (included)."""
    from stock_assets import market_calendar

    days = market_calendar.sessions_after(date.fromisoformat(start) - timedelta(days=1), count)
    return [d.strftime("%Y-%m-%d") for d in days]


def cutoff_before(end: str, sessions: int) -> str:
    """The day before the last `sessions` sessions up to `end`: where the first training stops."""
    from stock_assets import market_calendar

    if sessions <= 0:
        return end
    last = date.fromisoformat(end)
    days = market_calendar.sessions(last - timedelta(days=2 * sessions + 15), last + timedelta(days=1))
    if len(days) <= sessions:
        raise SystemExit(f"fewer than {sessions} sessions before {end}")
    return (days[-sessions] - timedelta(days=1)).strftime("%Y-%m-%d")


def run_replay(triton_url: str, sessions: int, retrain_every: int, epochs: int, size: str, say=print,
               first_day: str | None = None) -> str:
    """Replays `sessions` sessions from `first_day` (default: the session after the panel's last);
    returns the scoreboard."""
    from stock_assets.model.panel import load_panel
    from stock_assets.settings import stock_home
    from stock_assets.track import registry
    from stock_assets.training.assets import panel_root

    home = stock_home()
    if not registry.load(home):
        raise SystemExit("no model version is registered as served: run `make demo` first (it trains up to the cutoff and deploys)")
    if first_day is None:
        first_day = (date.fromisoformat(load_panel(panel_root()).watermark) + timedelta(days=1)).isoformat()
    days = replay_sessions(first_day, sessions)
    if len(days) < sessions:
        raise SystemExit(f"only {len(days)} sessions from {first_day} in the exchange calendar")
    from stock_assets.partitions import daily_partitions

    last_partition = daily_partitions().get_last_partition_key()
    if last_partition is None or days[-1] > last_partition:
        raise SystemExit(f"the replay would run to {days[-1]}, past the last daily partition ({last_partition}): "
                         f"raise STOCK_END_DATE or replay fewer sessions")
    replay = Replay(triton_url, epochs, size)
    served = registry.load(home)[-1].version
    replay.resources["triton"].deploy(served)  # a fresh Triton loads the served version first
    previous = (date.fromisoformat(first_day) - timedelta(days=1)).isoformat()
    for n, day in enumerate(days, start=1):
        started = time.perf_counter()
        result = replay.day((date.fromisoformat(previous) + timedelta(days=1)).isoformat(), day)
        # one run's output covers every day of its range: each day's event carries the run's count
        scored = next((int(e.materialization.metadata["scored"].value) for e in result.get_asset_materialization_events()
                       if e.asset_key.to_user_string() == "forecast_scores" and "scored" in e.materialization.metadata), 0)
        notes = replay.sensors()
        if retrain_every and n % retrain_every == 0:
            trained = replay.retrain()
            decision = next(e.materialization.metadata["decision"].value for e in trained.get_asset_materialization_events()
                            if e.asset_key.to_user_string() == "onnx_model")
            notes += [f"retrained: {decision}"] + replay.sensors()
        served = registry.served_on(registry.load(home), day)
        say(f"    {day}: v{served.version if served else '-'} served, {scored} outcomes scored (symbol x horizon)"
            f" ({time.perf_counter() - started:.1f} s){'; ' + '; '.join(notes) if notes else ''}")
        previous = day
    return scoreboard(home, days[0], days[-1], replay.events)


def scoreboard(home, first: str, last: str, events: list[str]) -> str:
    from stock_assets.track import registry
    from stock_assets.track.record import read_record, record_table, track_record

    entries = registry.load(home)
    scores = read_record(home / "lake" / "forecast_scores")
    records = {}
    if scores is not None:
        for entry in entries:
            record = track_record(scores, entry.version)
            if record:
                records[f"v{entry.version} ({entry.network})"] = record
        records["all versions"] = track_record(scores)
    versions = "\n".join(f"  v{e.version}: {e.network}, served {e.served_from} .. {registry.served_until(entries, e.version) or 'now'}"
                         f" ({e.reason[:160]})" for e in entries)
    happened = "\n".join(f"  {e}" for e in events) or "  none"
    return f"""
==> Scoreboard: sessions {first} .. {last}
Versions (the registry):
{versions}
Deployments and demotions during the replay:
{happened}
Track record (forecast_scores; skill = 1 - MAE / random walk MAE on 5-day log-returns; p = one-sided DM that it is worse):
{record_table(records) if records else '  nothing scored yet'}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=int(os.environ.get("REPLAY_SESSIONS", "20")))
    parser.add_argument("--retrain-every", type=int, default=int(os.environ.get("REPLAY_RETRAIN_EVERY", "21")))
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("DEMO_EPOCHS", "3")))
    parser.add_argument("--size", default=os.environ.get("DEMO_MODEL_SIZE", "small"))
    args = parser.parse_args()
    from stock_assets.console_log import log_to_file, say
    from stock_assets.launch_serving import triton_server

    from stock_assets.settings import apply_exports

    home = apply_exports()  # STOCK_HOME made absolute, DAGSTER_HOME beside it
    with log_to_file(home, "replay-days") as log, triton_server(home) as url:
        say(f"==> replaying {args.sessions} sessions (retraining every {args.retrain_every}), Triton at {url}")
        say(run_replay(url, args.sessions, args.retrain_every, args.epochs, args.size, say))
    say(f"Full log:    {log}")


if __name__ == "__main__":
    main()

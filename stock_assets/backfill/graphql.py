"""The Dagster webserver's GraphQL API as the backfill command uses it: launch an asset backfill
(launchPartitionBackfill, as the UI's "Materialize selected" does), read its per-asset partition
counts and its runs."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

VERSION = "{ version }"
ASSETS = "{ assetNodes { assetKey { path } isPartitioned } }"
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } } }"
LAUNCH = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on RunConflict { message }
    ... on ConflictingExecutionParamsError { message }
    ... on PresetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = """query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status numPartitions error { message }
      assetBackfillData { assetBackfillStatuses {
        ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted numPartitionsInProgress
                                             numPartitionsMaterialized numPartitionsFailed }
        ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed }
      } }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message }
  }
}"""
RUNS = """query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } assetSelection { path } } }
    ... on PythonError { message }
  }
}"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_DONE, RUN_FAILED = {"SUCCESS"}, {"FAILURE", "CANCELED"}


class BackfillError(RuntimeError):
    pass


class DagsterGraphQL:
    def __init__(self, url: str, timeout_s: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, text: str, variables: dict | None = None) -> dict:
        answer = httpx.post(f"{self.url}/graphql", json={"query": text, "variables": variables or {}}, timeout=self.timeout_s)
        if answer.status_code != 200:
            raise BackfillError(f"the Dagster webserver at {self.url} answered HTTP {answer.status_code}: {answer.text[:500]}")
        body = answer.json()
        if body.get("errors"):
            raise BackfillError(f"GraphQL error from {self.url}: {body['errors'][0].get('message')}")
        return body["data"]

    def up(self) -> bool:
        try:
            return bool(self.query(VERSION).get("version"))
        except (httpx.HTTPError, BackfillError, ValueError):
            return False


@dataclass
class Progress:
    status: str
    targeted: int = 0
    materialized: int = 0
    failed: int = 0
    in_progress: int = 0
    per_asset: dict = field(default_factory=dict)  # asset -> (materialized, targeted)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def launch(api: DagsterGraphQL, assets: list[str], first: str, last: str) -> str:
    """Launch one backfill of `assets` over the days first..last (inclusive); its id."""
    nodes = {"/".join(n["assetKey"]["path"]): n["isPartitioned"] for n in api.query(ASSETS)["assetNodes"]}
    unknown = [a for a in assets if a not in nodes]
    if unknown:
        raise BackfillError(f"unknown asset(s) {', '.join(unknown)}; the code location has: {', '.join(sorted(nodes))}")
    params = {"partitionsByAssets": [
        {"assetKey": {"path": a.split("/")}, "partitions": {"range": {"start": first, "end": last}} if nodes[a] else None}
        for a in assets]}
    result = api.query(LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        detail = result.get("message") or result
        raise BackfillError(f"the backfill was not launched ({result['__typename']}): {detail}")
    return result["backfillId"]


def progress(api: DagsterGraphQL, backfill_id: str) -> Progress:
    found = api.query(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if found["__typename"] != "PartitionBackfill":
        raise BackfillError(f"backfill {backfill_id}: {found.get('message', found['__typename'])}")
    state = Progress(found["status"], error=(found.get("error") or {}).get("message"))
    for asset in (found.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
        name = "/".join(asset["assetKey"]["path"])
        if "numPartitionsTargeted" in asset:
            counts = (asset["numPartitionsTargeted"], asset["numPartitionsMaterialized"], asset["numPartitionsFailed"],
                      asset["numPartitionsInProgress"])
        else:  # unpartitioned: one "partition"
            counts = (1, int(bool(asset["materialized"])), int(bool(asset["failed"])), int(bool(asset["inProgress"])))
        state.targeted += counts[0]
        state.materialized += counts[1]
        state.failed += counts[2]
        state.in_progress += counts[3]
        state.per_asset[name] = (counts[1], counts[0])
    return state


def runs(api: DagsterGraphQL, backfill_id: str) -> list[dict]:
    found = api.query(RUNS, {"id": backfill_id})["runsOrError"]
    if "results" not in found:
        raise BackfillError(f"the runs of backfill {backfill_id}: {found.get('message')}")
    return found["results"]


def describe_run(run: dict) -> str:
    """`<run id> (<assets>, <partitions>)`: what a failed run was doing."""
    tags = {t["key"]: t["value"] for t in run.get("tags") or []}
    first, last = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    days = tags.get("dagster/partition") or (f"{first}...{last}" if first else "unpartitioned")
    assets = ", ".join("/".join(a["path"]) for a in run.get("assetSelection") or []) or "?"
    return f"{run['runId']} ({assets}; {days})"

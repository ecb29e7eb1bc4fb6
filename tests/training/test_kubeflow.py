"""The Kubeflow TrainJob launcher against a local stand-in API server: it answers the kubernetes
client's real HTTP calls, keeps TrainJobs, scripts their status, and serves the rank-0 pod's log,
which is produced by a real dagster-pipes process run with the bootstrap variables the launcher
put in spec.trainer.env."""

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import dagster as dg
import jsonschema
import pytest
import yaml

from stock_assets.model.checkpoints import BEST, save_checkpoint
from stock_assets.model.network import build_model
from stock_assets.training.assets import checkpoint_root, model_checkpoint
from stock_assets.training.kubeflow import RESERVED_ENV, KubeflowTrainJobLauncher
from tests.conftest import REPO

CRD = REPO.parent / "shared" / "k8s-schemas" / "trainer.kubeflow.org_trainjobs.yaml"
RANK0 = """
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    pipes.log.info("epoch 0: train 0.1 validation 0.2")
    pipes.report_asset_materialization(metadata={"epoch": 0, "samples_per_s": 123.4, "processes": 4})
"""


def trainjob_schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]


def unknown_fields(node, schema, path="") -> list[str]:
    """What the API server would silently prune: keys the schema does not declare."""
    if isinstance(node, dict) and schema.get("type") == "object" and "properties" in schema:
        found = []
        for key, value in node.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(value, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(node, list) and "items" in schema:
        return [f for i, item in enumerate(node) for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def validate_trainjob(body: dict) -> None:
    schema = trainjob_schema()
    jsonschema.validate(body, schema)
    assert unknown_fields(body, schema) == []
    names = {e["name"] for e in body["spec"]["trainer"]["env"]}
    assert not names & set(RESERVED_ENV), "the trainer injects PET_* itself"


class FakeKubernetes(BaseHTTPRequestHandler):
    state: dict = {}

    def _send(self, status: int, payload, content_type="application/json"):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = body["metadata"]["name"]
        self.state["posts"].append(name)
        if name in self.state["jobs"]:
            return self._send(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
        self.state["jobs"][name] = body
        self._send(201, body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path.endswith("/pods"):
            pod = {"metadata": {"name": "rank0-pod"}, "status": {"phase": "Running"}}
            return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod]})
        if url.path.endswith("/log"):
            job = next(iter(self.state["jobs"].values()))
            env = {e["name"]: e["value"] for e in job["spec"]["trainer"]["env"]}
            run = subprocess.run([sys.executable, "-c", RANK0], env=env, capture_output=True, text=True, timeout=60)
            lines = (run.stdout + run.stderr).splitlines()
            if "timestamps=true" in url.query.lower():  # as the kubelet does: RFC 3339 time, a space, the line
                start = datetime.now(timezone.utc)
                lines = [f"{(start + timedelta(microseconds=i)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {line}" for i, line in enumerate(lines)]
            return self._send(200, "\n".join(lines) + "\n", "text/plain")
        name = url.path.rsplit("/", 1)[-1]
        job = dict(self.state["jobs"][name])
        condition = self.state["outcome"]
        job["status"] = {"conditions": [{"type": condition[0], "status": "True", "reason": condition[1], "message": condition[2]}]}
        self._send(200, job)

    def do_DELETE(self):
        name = urlparse(self.path).path.rsplit("/", 1)[-1]
        self.state["deleted"].append(name)
        self.state["jobs"].pop(name, None)
        self._send(200, {"kind": "Status", "status": "Success"})

    def log_message(self, *args):
        pass


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCK_HOME", str(tmp_path))
    model = build_model("tiny", news_dim=8)
    save_checkpoint({"model_config": model.config.to_dict(), "model_state": model.state_dict(), "epoch": 0,
                     "watermark": "2015-12-31", "history": [], "size": "tiny"}, checkpoint_root() / BEST)
    FakeKubernetes.state = {"jobs": {}, "posts": [], "deleted": [], "outcome": ("Complete", "JobCompleted", "")}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKubernetes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    launcher = KubeflowTrainJobLauncher(api_host=f"http://127.0.0.1:{server.server_port}", poll_interval_s=0.05, num_nodes=2,
                                        num_proc_per_node=2, gpus_per_node=1)
    yield launcher, FakeKubernetes.state
    server.shutdown()


def train(launcher, instance=None, raise_on_error=True):
    return dg.materialize(
        [model_checkpoint], resources={"trainer": launcher}, instance=instance, raise_on_error=raise_on_error,
        run_config={"ops": {"model_checkpoint": {"config": {"ablation": False, "size": "tiny"}}}},
    )


def test_success_reports_pipes_metadata_and_cleans_up(cluster):
    launcher, state = cluster
    result = train(launcher)
    event = result.get_asset_materialization_events()[0]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["samples_per_s"] == 123.4 and metadata["processes"] == 4  # from the rank-0 pod's Pipes messages
    assert metadata["watermark"] == "2015-12-31" and "loss_curve" in metadata  # same metadata as the local launcher
    name = state["posts"][0]
    assert state["deleted"] == [name] and state["jobs"] == {}


def test_trainjob_body_validates_against_the_crd(cluster):
    launcher, _ = cluster
    body = launcher.trainjob_body("stock-train-abc", ["--epochs", "3"], {"DAGSTER_PIPES_CONTEXT": "x", "DAGSTER_PIPES_MESSAGES": "y"}, "run")
    validate_trainjob(body)
    assert body["spec"]["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "1"
    typo = json.loads(json.dumps(body))
    typo["spec"]["trainer"]["numNode"] = 2
    assert unknown_fields(typo, trainjob_schema()) == [".spec.trainer.numNode"]
    with pytest.raises(ValueError, match="PET_MASTER_ADDR"):
        launcher.trainjob_body("x", [], {"PET_MASTER_ADDR": "10.0.0.1"}, "run")


def test_failed_condition_fails_the_asset_with_the_reason(cluster):
    launcher, state = cluster
    state["outcome"] = ("Failed", "BackoffLimitExceeded", "node-1 exited with code 137 (OOMKilled)")
    result = train(launcher, raise_on_error=False)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    text = error.message + (error.cause.message if error.cause else "")
    assert "BackoffLimitExceeded" in text and "OOMKilled" in text
    assert state["deleted"] == state["posts"][:1]


def test_a_retried_step_adopts_its_trainjob_instead_of_creating_another(cluster):
    from kubernetes import client

    from stock_assets.training.kubeflow import job_name

    launcher, state = cluster
    assert job_name("run-1234abcd", ["--a"]) == job_name("run-1234abcd", ["--a"]) != job_name("run-1234abcd", ["--b"])
    name = job_name("run-1234abcd", ["--a"])
    configuration = client.Configuration()
    configuration.host = launcher.api_host
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    body = launcher.trainjob_body(name, ["--a"], {}, "run-1234abcd")

    class Context:
        log = dg.get_dagster_logger()

    launcher._create_or_adopt(api, name, body, Context)
    launcher._create_or_adopt(api, name, body, Context)  # the retry: 409 from the server, adopted
    assert state["posts"] == [name, name] and list(state["jobs"]) == [name]


def test_cancelling_the_run_deletes_the_trainjob(cluster, monkeypatch):
    """Dagster interrupts a cancelled step by raising DagsterExecutionInterruptedError in it."""
    import stock_assets.training.kubeflow as kubeflow

    launcher, state = cluster
    state["outcome"] = ("Created", "JobSetCreated", "")  # still running

    def interrupted(seconds):
        raise dg.DagsterExecutionInterruptedError()

    monkeypatch.setattr(kubeflow.time, "sleep", interrupted)
    result = train(launcher, raise_on_error=False)
    assert not result.success
    assert state["posts"] and state["deleted"] == state["posts"][:1] and state["jobs"] == {}


def test_with_stock_home_on_an_object_store_the_trainjob_reads_it_there_with_credentials_from_a_secret(cluster, monkeypatch):
    launcher, _ = cluster
    monkeypatch.setenv("STOCK_HOME", "s3://stock-lake/prod")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.internal:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-in-the-body")
    body = launcher.trainjob_body("stock-train-abc", ["--panel", "s3://stock-lake/prod/lake/training_windows"], {}, "run")
    validate_trainjob(body)
    env = {e["name"]: e for e in body["spec"]["trainer"]["env"]}
    assert env["STOCK_HOME"]["value"] == "s3://stock-lake/prod"
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://s3.internal:9000"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "stock-object-store", "key": "AWS_SECRET_ACCESS_KEY"}
    assert "never-in-the-body" not in json.dumps(body)
    assert body["spec"]["runtimePatches"] == []  # no volume to mount

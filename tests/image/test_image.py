"""The project image, built and run for real (podman with runc here, docker elsewhere): every role
runs the command its manifest gives, with the manifest's environment and STOCK_HOME on a mounted
folder standing for the PVC — the code location (Helm values), a run's materialization (the run
launcher's pod settings), the trainer (the TrainJob's torchrun) and the chatbot API and UI (k8s/)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.model.checkpoints import BEST, LATEST, load_checkpoint, weights_finite
from stock_assets.news.assets import news_embeddings
from stock_assets.news.columns import embedding_matrix
from stock_assets.news.resources import EmbedderResource
from stock_assets.training.assets import TrainingConfig, training_args
from stock_assets.training.kubeflow import KubeflowTrainJobLauncher
from tests.conftest import lake_resources, materialize_range
from tests.image.conftest import UID, container_env, helm_env, pvc_mounts, volume_dir
from tests.image.engine import IMAGE_REPOSITORY, Service, engine, image_tag, run
from tests.k8s.render import build

pytestmark = pytest.mark.slow

REPLAY_MOUNT = "/data/replay"
SYMBOLS = "AAPL,MSFT"
FIRST_DAY, LAST_DAY = "2014-01-01", "2014-06-30"
RUN_DAYS = ["2014-07-01", "2014-07-02"]


def replay_env() -> dict[str, str]:
    """A run on replay data instead of yfinance/Finnhub (no internet in the container), with the
    partitions and symbols the tests use."""
    return {
        "STOCK_PRICE_SOURCE": "replay", "STOCK_NEWS_SOURCE": "replay", "STOCK_REPLAY_DIR": REPLAY_MOUNT,
        "STOCK_SYMBOLS": SYMBOLS, "STOCK_EMBEDDER": "minilm", "HF_HUB_OFFLINE": "1",
        "STOCK_START_DATE": os.environ["STOCK_START_DATE"], "STOCK_END_DATE": os.environ["STOCK_END_DATE"],
        # No cluster to start step pods on: the steps run in the run's container, as in a step pod.
        "STOCK_EXECUTOR": "multiprocess",
    }


def our_containers(objects: list[dict]):
    for obj in objects:
        if obj["kind"] == "Deployment":
            spec = obj["spec"]["template"]["spec"]
            for container in spec["containers"]:
                if container["image"].startswith(IMAGE_REPOSITORY + ":"):
                    yield obj, spec, container


def probe_port(container: dict, port) -> int:
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    return named[port] if isinstance(port, str) else int(port)


def files_under(root):
    return [p for p in root.rglob("*") if p.is_file()]


def test_every_manifest_names_the_image_make_image_builds(cluster_objects, values):
    tag = f"{IMAGE_REPOSITORY}:{image_tag()}"
    named = [c["image"] for _, _, c in our_containers(cluster_objects)]
    assert len(named) == 2 and set(named) == {tag}
    code_location = values["dagster-user-deployments"]["deployments"][0]["image"]
    assert f"{code_location['repository']}:{code_location['tag']}" == tag
    config = next(o for o in cluster_objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "stock-config")
    assert config["data"]["STOCK_IMAGE"] == tag
    gpu = next(o for o in build("k8s/overlays/gpu") if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "stock-config")
    assert gpu["data"]["STOCK_IMAGE"] == f"{tag}-gpu"  # make image IMAGE_VARIANT=gpu
    assert KubeflowTrainJobLauncher().image == tag


def test_runtime_image_is_non_root_without_compiler_pip_or_build_mounts(image):
    config = json.loads(engine("image", "inspect", image).stdout)[0]["Config"]
    assert config.get("User") == f"{UID}:{UID}"
    assert not config.get("Entrypoint"), "a pod's args must be the whole command (as the Helm chart passes them)"
    assert not any(e.startswith(("PIP_CERT=", "PIP_FIND_LINKS=")) for e in config.get("Env", []))
    script = (
        "import os, shutil, sys\n"
        "print(os.getuid())\n"
        "print([t for t in ('gcc', 'cc', 'c++', 'g++', 'clang', 'make', 'ld', 'pip', 'pip3') if shutil.which(t)])\n"
        "import importlib.util; print(importlib.util.find_spec('pip') is not None)\n"
        "caches = [p for p in ('/root/.cache/pip', '/home/stock/.cache/pip', '/tmp/pip-cache') if os.path.exists(p)]\n"
        "print(caches); print([p for p in ('/run/host-ca.crt', '/run/host-wheels', '/run/secrets/pip-cert') if os.path.exists(p)])\n"
    )
    uid, tools, pip_module, caches, mounts = run(image, None, ["python", "-c", script]).stdout.split("\n")[:5]
    assert int(uid) == UID
    assert tools == "[]" and pip_module == "False" and caches == "[]" and mounts == "[]"


def test_code_location_from_the_helm_values_answers_its_health_check(image, values, cluster_objects, tmp_path_factory):
    deployment = values["dagster-user-deployments"]["deployments"][0]
    port = deployment["port"]
    # What the chart runs: the image with these args, probed by `dagster api grpc-health-check`.
    args = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(port), *deployment["dagsterApiGrpcArgs"]]
    volumes = pvc_mounts(deployment, {"stock-home": volume_dir(tmp_path_factory, "pvc")})
    with Service(image, None, args, helm_env(deployment, cluster_objects), volumes) as pod:
        pod.wait_until(lambda: pod.exec("dagster", "api", "grpc-health-check", "-p", str(port)).returncode == 0,
                       what="healthy (dagster api grpc-health-check)")


@pytest.fixture(scope="module")
def run_pod_home(image, values, cluster_objects, tmp_path_factory, replay_dir):
    """Half a year of prices, news and embeddings written beforehand (here: the test's own
    setup), then, each a `dagster asset materialize` in a container with the run launcher's pod
    settings: raw_prices + raw_news + news_embeddings for two more days — the image's
    transformers, onnxruntime, packaged MiniLM and finance dictionary embed and score those
    days' headlines — and training_windows."""
    home = volume_dir(tmp_path_factory, "pvc")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCK_HOME", str(home))
        resources = lake_resources(home / "lake", price={"symbols": SYMBOLS.split(",")}, news={"symbols": SYMBOLS.split(",")})
        resources["embedder"] = EmbedderResource(model="minilm")
        assert materialize_range([raw_prices, raw_news, news_embeddings], resources, FIRST_DAY, LAST_DAY).success
    for path in [home, *home.rglob("*")]:
        # what fsGroup does for the pod: the volume's group is the pod's, with group write
        # (the embedding cache written here is updated in the container); the owner stays root
        os.chown(path, UID if path.is_dir() else -1, UID)
        path.chmod(path.stat().st_mode | 0o060)
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    volumes = {**pvc_mounts(launcher, {"stock-home": home}), replay_dir: f"{REPLAY_MOUNT}:ro"}
    # Half a year holds fewer sessions than the default validation + test periods (63 + 93).
    env = {**helm_env(launcher, cluster_objects), **replay_env(), "STOCK_VALIDATION_SESSIONS": "20", "STOCK_TEST_SESSIONS": "20"}
    materialize = ["dagster", "asset", "materialize", "-m", "stock_assets.definitions", "--select"]
    for day in RUN_DAYS:
        run(image, None, [*materialize, "raw_prices,raw_news,news_embeddings", "--partition", day], env, volumes, timeout=600)
    run(image, None, [*materialize, "training_windows"], env, volumes, timeout=600)
    return home


def test_a_run_materializes_partitions_on_the_volume_as_the_image_user(run_pod_home):
    for asset in ("raw_prices", "raw_news", "news_embeddings"):
        written = [f for f in files_under(run_pod_home / "lake" / asset) if any(day in str(f) for day in RUN_DAYS)]
        assert len(written) == len(RUN_DAYS), asset
        assert {f.stat().st_uid for f in written} == {UID}, asset
    # the headlines embedded in the container: one 384-d MiniLM vector and the shipped classifier's sentiment each
    for day in RUN_DAYS:
        news = pd.read_parquet(run_pod_home / "lake" / "raw_news" / f"{day}.parquet")
        embedded = pd.read_parquet(run_pod_home / "lake" / "news_embeddings" / f"{day}.parquet")
        assert len(news) > 0 and sorted(embedded["id"]) == sorted(news["id"]), day
        assert embedded["model"].iloc[0].startswith("minilm@") and embedding_matrix(embedded["embedding"]).shape[1] == 384
        assert embedded["sentiment_scorer"].str.match(r"minilm-[a-z-]+ \(held-out macro-F1 0\.\d\d, ").all()
    panel = files_under(run_pod_home / "lake" / "training_windows")
    assert panel and {f.stat().st_uid for f in panel} == {UID}


def test_the_trainjob_command_trains_with_two_processes(image, run_pod_home, monkeypatch):
    launcher = KubeflowTrainJobLauncher(num_nodes=1, num_proc_per_node=2)
    monkeypatch.setenv("STOCK_HOME", launcher.mount_path)  # the asset builds its args for the pod's mount
    args = training_args(TrainingConfig(epochs=1, size="tiny", batch_size=32, resume=False))
    trainer = launcher.trainjob_body("stock-train-image-test", args, {}, "image-test")["spec"]["trainer"]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    # What Kubeflow's torch plugin injects for torchrun on node 0 of a 1-node job.
    env |= {"PET_NNODES": str(trainer["numNodes"]), "PET_NPROC_PER_NODE": str(trainer["numProcPerNode"]),
            "PET_NODE_RANK": "0", "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": "29400"}
    run(image, trainer["command"], trainer["args"], env, {run_pod_home: launcher.mount_path}, timeout=1200)
    checkpoints = run_pod_home / "checkpoints"
    best = load_checkpoint(checkpoints / BEST)
    assert best["processes"] == 2 and best["ranks_identical"] is True and weights_finite(best["model_state"])
    assert (checkpoints / LATEST).exists()
    assert {f.stat().st_uid for f in files_under(checkpoints)} == {UID}


@pytest.mark.parametrize("deployment_name", ["chatbot-api", "chatbot-ui"])
def test_chatbot_deployments_answer_their_probes(image, cluster_objects, tmp_path_factory, deployment_name):
    obj, spec, container = next(c for c in our_containers(cluster_objects) if c[0]["metadata"]["name"] == deployment_name)
    pod_settings = {"volumes": spec.get("volumes", []), "volumeMounts": container.get("volumeMounts", [])}
    volumes = pvc_mounts(pod_settings, {"stock-home": volume_dir(tmp_path_factory, "pvc")})
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    with Service(image, container.get("command"), container.get("args", []), container_env(container, cluster_objects), volumes) as pod:
        status, body = pod.wait_until(lambda: (r := pod.http_get(probe_port(container, liveness["port"]), liveness["path"]))[0] == 200 and r,
                                      what=f"live ({liveness['path']})")
        status, body = pod.http_get(probe_port(container, readiness["port"]), readiness["path"])
        if deployment_name == "chatbot-api":
            # No Triton, Chroma server or LLM next to it here: ready is 503 naming what is missing.
            report = json.loads(body)
            assert status == 503 and report["status"] == "degraded" and "triton" in report["degraded"]
        else:
            assert status == 200, body

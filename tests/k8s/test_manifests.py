"""k8s/: kustomize base and overlays build offline and every object validates strictly."""

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO
from tests.k8s.render import build, helm_values

TARGETS = ["k8s/base", "k8s/overlays/cpu", "k8s/overlays/gpu"]


@pytest.mark.parametrize("target", TARGETS)
def test_objects_validate_strictly_against_kubernetes_1_33(target):
    objects = build(target)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "PersistentVolumeClaim", "Deployment", "Service", "Secret", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33.0", strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "mlteam", obj["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_has_probes_limits_and_a_pinned_image(target):
    deployments = [o for o in build(target) if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"chromadb", "triton", "ollama", "chatbot-api", "chatbot-ui"}
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            assert container.get("readinessProbe") and container.get("livenessProbe"), where
            assert container["resources"]["limits"]["cpu"] and container["resources"]["limits"]["memory"], where
        for container in spec["containers"] + spec.get("initContainers", []):
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_carries_a_value(target):
    for secret in (o for o in build(target) if o["kind"] == "Secret"):
        values = list((secret.get("stringData") or {}).values()) + list((secret.get("data") or {}).values())
        assert values and all(v == "" for v in values), secret["metadata"]["name"]


def test_triton_runs_explicit_model_control_and_gpu_overlay_asks_for_gpus():
    base = {o["metadata"]["name"]: o for o in build("k8s/base") if o["kind"] == "Deployment"}
    args = base["triton"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--model-control-mode=explicit" in args and "--model-repository=/mnt/storage/models" in args
    gpu = {o["metadata"]["name"]: o for o in build("k8s/overlays/gpu")}
    assert gpu["triton"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["stock-config"]["data"]["STOCK_TRAIN_GPUS_PER_NODE"] == "4"
    roles = [o for o in build("k8s/base") if o["kind"] == "Role"][0]["rules"]
    verbs = {r["resources"][0]: set(r["verbs"]) for r in roles}
    assert {"create", "get", "delete", "watch"} <= verbs["trainjobs"] and "patch" in verbs["deployments"]


def test_helm_values_and_dagster_cloud_point_at_the_code_location():
    values = helm_values()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "stock_assets.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["serviceAccountName"] == "dagster-runs"
    cloud = yaml.safe_load((REPO / "dagster_cloud.yaml").read_text())["locations"][0]
    assert cloud["code_source"]["module_name"] == "stock_assets.definitions"
    secrets = {o["metadata"]["name"] for o in build("k8s/base") if o["kind"] == "Secret"}
    assert set(cloud["container_context"]["k8s"]["env_secrets"]) <= secrets

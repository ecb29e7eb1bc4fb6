"""The image under test, built by `make image`'s script (the layer cache makes a rebuild after a
code change take seconds), and the pods' settings as the manifests give them."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.image.engine import IMAGE_REPOSITORY, engine, engine_env, image_tag
from tests.k8s.render import build, helm_values

UID = 1000  # the image's user


@pytest.fixture(scope="session")
def image() -> str:
    name = f"{IMAGE_REPOSITORY}:{image_tag()}"
    engine("version")  # fails with the install hint when there is no engine
    result = subprocess.run(["bash", str(REPO / "docker" / "build-image.sh")], env={**engine_env(), "IMAGE": name},
                            capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, f"make image failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return name


@pytest.fixture(scope="session")
def cluster_objects() -> list[dict]:
    return build("k8s/base")


@pytest.fixture(scope="session")
def values() -> dict:
    return helm_values()


def volume_dir(tmp_path_factory, name: str) -> Path:
    """A folder for a PVC: writable by the image's user, as fsGroup makes the PVC in the cluster."""
    path = tmp_path_factory.mktemp(name)
    if os.geteuid() == 0:
        os.chown(path, UID, UID)
    else:
        path.chmod(0o777)
    return path


def configmaps_and_secrets(objects: list[dict]) -> tuple[dict, dict]:
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    secrets = {}
    for o in (o for o in objects if o["kind"] == "Secret"):
        data = {k: base64.b64decode(v).decode() for k, v in (o.get("data") or {}).items()}
        secrets[o["metadata"]["name"]] = {**data, **(o.get("stringData") or {})}
    return configmaps, secrets


def container_env(container: dict, objects: list[dict]) -> dict[str, str]:
    """The environment a Deployment's container gets: envFrom, then env (which wins)."""
    configmaps, secrets = configmaps_and_secrets(objects)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]])
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "configMapKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = configmaps[ref["name"]][ref["key"]]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def helm_env(section: dict, objects: list[dict]) -> dict[str, str]:
    """The environment of a Helm user deployment or of the run launcher's pods."""
    configmaps, secrets = configmaps_and_secrets(objects)
    env: dict[str, str] = {}
    for ref in section.get("envConfigMaps", []):
        env.update(configmaps[ref["name"]])
    for ref in section.get("envSecrets", []):
        env.update(secrets[ref["name"]])
    env.update(section.get("env") or {})
    return env


def pvc_mounts(section: dict, claim_dirs: dict[str, Path]) -> dict[Path, str]:
    """Host folder -> mountPath for the section's PVC mounts (the claim's folder stands for the PVC)."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in section.get("volumes", []) if "persistentVolumeClaim" in v}
    return {claim_dirs[claims[m["name"]]] / m.get("subPath", ""): m["mountPath"] for m in section.get("volumeMounts", [])}

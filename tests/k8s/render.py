"""The manifests as the cluster gets them: `kubectl kustomize` output (offline) and the Helm values."""

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

HELM_VALUES = REPO / "k8s" / "dagster" / "values.yaml"


def build(target: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed for `kubectl kustomize` (offline)")
    out = subprocess.run([kubectl, "kustomize", str(REPO / target)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())

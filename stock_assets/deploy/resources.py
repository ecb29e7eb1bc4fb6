"""Deployers: load a model version into Triton, and reload or restart the chatbot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import httpx
from pydantic import Field

from stock_assets.export.triton_repository import MODEL_NAME
from stock_assets.settings import stock_home


class DeployError(RuntimeError):
    """A deployment did not take effect; the previous version keeps serving."""


def sync_local_repository(production, local: Path) -> list[int]:
    """Mirror the production repository into the local Triton's Python-backend one, through
    serving's own command (the code location does not import the serving package)."""
    done = subprocess.run([sys.executable, "-m", "stock_serving.triton_local.repository", str(production), str(local)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        raise DeployError(f"syncing the local Triton repository failed: {done.stderr.strip()[-1000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class TritonDeployer(dg.ConfigurableResource):
    """Triton in explicit model-control mode: `load` then wait until the version is ready.

    `local_repository` set (the `make triton` server): the production repository is first
    mirrored into that Python-backend repository; on Kubernetes Triton reads the shared PVC.
    """

    url: str = Field(default="http://127.0.0.1:8000", description="Triton HTTP endpoint (TRITON_URL)")
    local_repository: str | None = Field(default=None, description="local Python-backend repository to sync first")
    ready_timeout_s: float = Field(default=120.0, description="how long a new version may take to become ready")

    def unreachable_reason(self) -> str | None:
        """Why a deploy cannot work now (Triton down or not started), or None."""
        try:
            httpx.get(f"{self.url.rstrip('/')}/v2/health/live", timeout=3.0)
        except httpx.TransportError:
            return f"Triton not reachable at {self.url}: start it with `make triton`, or set TRITON_URL to a running server"
        return None

    def deploy(self, version: int, log=None) -> dict:
        reason = self.unreachable_reason()
        if reason:
            raise DeployError(f"cannot deploy {MODEL_NAME} v{version}: {reason}")
        if self.local_repository:
            synced = sync_local_repository(stock_home() / "models", Path(self.local_repository))
            if version not in synced:
                raise DeployError(f"version {version} is not in the model repository (has {synced})")
        base = self.url.rstrip("/")
        started = time.monotonic()
        with httpx.Client(timeout=self.ready_timeout_s) as client:
            answer = client.post(f"{base}/v2/repository/models/{MODEL_NAME}/load")
            if answer.status_code != 200:
                raise DeployError(f"Triton refused to load {MODEL_NAME} v{version}: HTTP {answer.status_code} {answer.text[:500]}")
            ready_url = f"{base}/v2/models/{MODEL_NAME}/versions/{version}/ready"
            while client.get(ready_url).status_code != 200:
                if time.monotonic() - started > self.ready_timeout_s:
                    raise DeployError(f"{MODEL_NAME} v{version} not ready after {self.ready_timeout_s:.0f} s")
                time.sleep(0.5)
            served = client.get(f"{base}/v2/models/{MODEL_NAME}").json()
        if log:
            log.info(f"Triton serves {MODEL_NAME} v{version} (versions {served.get('versions')})")
        return {"version": version, "seconds": time.monotonic() - started, "served_versions": served.get("versions", [])}


class ChatbotDeployer(dg.ConfigurableResource):
    """After a new model or news index: `local` calls the chatbot's reload endpoint;
    `kubernetes` restarts its Deployment (pod template annotation, like `kubectl rollout restart`)."""

    mode: str = Field(default="local", description="local, kubernetes, or none")
    api_url: str = Field(default="http://127.0.0.1:8080", description="chatbot API (API_URL)")
    namespace: str = Field(default="mlteam")
    deployment: str = Field(default="chatbot-api")

    def restart_patch(self, now: datetime | None = None) -> dict:
        stamp = (now or datetime.now(timezone.utc)).isoformat()
        return {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}

    def unreachable_reason(self) -> str | None:
        """Why a local reload cannot work now (the chatbot API is not running), or None."""
        if self.mode != "local":
            return None
        try:
            httpx.get(f"{self.api_url.rstrip('/')}/healthz", timeout=3.0)
        except httpx.TransportError:
            return f"the chatbot API is not reachable at {self.api_url}: start it with `make serve` (or `make api`), or set API_URL"
        return None

    def redeploy(self, apps_api=None) -> dict:
        if self.mode == "none":
            return {"mode": "none"}
        if self.mode == "local":
            token = os.environ.get("CHATBOT_ADMIN_TOKEN", "")
            if not token:
                raise DeployError("CHATBOT_ADMIN_TOKEN is not set: the chatbot refuses reloads without it")
            answer = httpx.post(f"{self.api_url.rstrip('/')}/v1/admin/reload", headers={"Authorization": f"Bearer {token}"}, timeout=60)
            if answer.status_code != 200:
                raise DeployError(f"chatbot reload failed: HTTP {answer.status_code} {answer.text[:300]}")
            return {"mode": "local", "status": answer.status_code}
        if self.mode == "kubernetes":
            if apps_api is None:
                from kubernetes import client, config

                config.load_incluster_config() if os.environ.get("KUBERNETES_SERVICE_HOST") else config.load_kube_config()
                apps_api = client.AppsV1Api()
            patch = self.restart_patch()
            apps_api.patch_namespaced_deployment(self.deployment, self.namespace, patch)
            return {"mode": "kubernetes", "deployment": f"{self.namespace}/{self.deployment}", "patch": patch}
        raise DeployError(f"unknown chatbot deploy mode {self.mode!r}; choose local, kubernetes or none")

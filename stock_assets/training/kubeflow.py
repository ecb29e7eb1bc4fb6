"""The Kubeflow launcher: the training entry point as a Kubeflow Trainer v2 TrainJob across nodes.

It creates a TrainJob (trainer.kubeflow.org/v1alpha1, runtime `torch-distributed`) named
deterministically from the Dagster run (a retried step finds its job instead of starting a
second), passes the Dagster Pipes bootstrap variables in spec.trainer.env (never the PET_*
names the trainer injects), reads Pipes messages from the rank-0 pod's logs, polls the
Complete/Failed conditions, and deletes the TrainJob when done or when the run is cancelled.
"""

from __future__ import annotations

import hashlib
import re
import time

import dagster as dg
from pydantic import Field

from stock_assets.training.launchers import TrainingLauncher

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
# torchrun reads the PET_* variables the trainer injects (nodes, processes per node, node rank,
# master address and port): one process per GPU (or per numProcPerNode) on every node.
ENTRY_POINT = ["torchrun", "-m", "stock_assets.model.train"]


class TrainJobFailed(RuntimeError):
    pass


def job_name(run_id: str, args: list[str]) -> str:
    """DNS-1035, at most 63 characters, the same for a retry of the same step."""
    digest = hashlib.sha1(f"{run_id}|{' '.join(args)}".encode()).hexdigest()[:10]
    return re.sub(r"[^a-z0-9-]", "-", f"stock-train-{run_id[:8]}-{digest}".lower())[:63]


class KubeflowTrainJobLauncher(TrainingLauncher):
    """DDP across `num_nodes` pods of the `torch-distributed` runtime, STOCK_HOME on a shared PVC."""

    namespace: str = Field(default="mlteam")
    image: str = Field(default="ghcr.io/example/stock-news:0.1.0", description="the project image")
    runtime: str = Field(default="torch-distributed", description="ClusterTrainingRuntime name")
    num_nodes: int = Field(default=2)
    num_proc_per_node: int = Field(default=1, description="processes per node (GPUs per node on GPU nodes)")
    gpus_per_node: int = Field(default=0)
    cpu: str = Field(default="2")
    memory: str = Field(default="8Gi")
    pvc: str = Field(default="stock-home", description="PVC holding STOCK_HOME")
    mount_path: str = Field(default="/mnt/storage")
    object_store_secret: str = Field(default="stock-object-store", description="Secret with AWS_ACCESS_KEY_ID and "
                                     "AWS_SECRET_ACCESS_KEY, used when STOCK_HOME is an object-store URL")
    api_host: str | None = Field(default=None, description="API server URL, e.g. `kubectl proxy`'s http://127.0.0.1:8001; default: in-cluster or kubeconfig")
    poll_interval_s: float = Field(default=10.0)
    timeout_s: float = Field(default=6 * 3600.0)

    def trainjob_body(self, name: str, args: list[str], env: dict[str, str], run_id: str) -> dict:
        clash = sorted(set(env) & set(RESERVED_ENV))
        if clash:
            raise ValueError(f"{clash} are injected by the Kubeflow trainer and may not be set")
        resources: dict = {"cpu": self.cpu, "memory": self.memory}
        if self.gpus_per_node:
            resources["nvidia.com/gpu"] = str(self.gpus_per_node)
        remote = _remote_home()
        volume_patch = {"spec": {"template": {"spec": {
            # The image runs as uid 1000: the PVC's files must be writable by its group.
            "securityContext": {"fsGroup": 1000},
            "volumes": [{"name": "stock-home", "persistentVolumeClaim": {"claimName": self.pvc}}],
            "containers": [{"name": "node", "volumeMounts": [{"name": "stock-home", "mountPath": self.mount_path}]}],
        }}}}
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "TrainJob",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": "stock-news", "dagster/run-id": run_id},
            },
            "spec": {
                "runtimeRef": {"name": self.runtime, "kind": "ClusterTrainingRuntime", "apiGroup": GROUP},
                "trainer": {
                    "image": self.image,
                    "command": ENTRY_POINT,
                    "args": args,
                    "numNodes": self.num_nodes,
                    "numProcPerNode": self.num_proc_per_node,
                    "resourcesPerNode": {"requests": resources, "limits": resources},
                    "env": [{"name": k, "value": v} for k, v in sorted(env.items())] + self.storage_env(remote),
                },
                # the nodes mount the RWX volume, or (STOCK_HOME on an object store) need none
                "runtimePatches": [] if remote else [{
                    "manager": "stock-news.dagster",
                    "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{"name": "node", "template": volume_patch}]}}},
                }],
            },
        }

    def storage_env(self, remote: str | None) -> list[dict]:
        """Where the trainer reads the panel and writes checkpoints: the mounted volume, or the
        object store (its URL and endpoint; the credentials from a Secret, never in the body)."""
        if not remote:
            return [{"name": "STOCK_HOME", "value": self.mount_path}]
        from stock_assets.settings import settings

        endpoint = settings().aws_endpoint_url
        secret = [{"name": key, "valueFrom": {"secretKeyRef": {"name": self.object_store_secret, "key": key}}}
                  for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
        return [{"name": "STOCK_HOME", "value": remote}] + (
            [{"name": "AWS_ENDPOINT_URL", "value": endpoint}] if endpoint else []) + secret

    def launch(self, context: dg.AssetExecutionContext, args: list[str], custom_api=None, core_api=None) -> dg.PipesClientCompletedInvocation:
        from dagster_k8s.pipes import PipesK8sPodLogsMessageReader
        from kubernetes import client, config

        if custom_api is None or core_api is None:
            if self.api_host:
                configuration = client.Configuration()
                configuration.host = self.api_host
                api_client = client.ApiClient(configuration)
            else:
                config.load_incluster_config() if _in_cluster() else config.load_kube_config()
                api_client = client.ApiClient()
            custom_api, core_api = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
        args = [a.replace(str(_local_home()), self.mount_path) for a in args]
        name = job_name(context.run_id, args)
        reader = PipesK8sPodLogsMessageReader()
        with dg.open_pipes_session(context=context, context_injector=dg.PipesEnvContextInjector(), message_reader=reader) as session:
            body = self.trainjob_body(name, args, session.get_bootstrap_env_vars(), context.run_id)
            try:
                self._create_or_adopt(custom_api, name, body, context)
                pod = self._rank0_pod(core_api, name)
                reader.consume_pod_logs(context=context, core_api=core_api, namespace=self.namespace, pod_name=pod)
                self._wait_for_completion(custom_api, name)
            finally:
                self._delete(custom_api, name, context)  # done, failed or cancelled: never left behind
        return dg.PipesClientCompletedInvocation(session)

    def _create_or_adopt(self, custom_api, name: str, body: dict, context) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            custom_api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
            context.log.info(f"created TrainJob {self.namespace}/{name}")
        except ApiException as exc:
            if exc.status != 409:
                raise
            context.log.info(f"TrainJob {self.namespace}/{name} exists (a retried step): following it")

    def _rank0_pod(self, core_api, name: str) -> str:
        """The pod of node 0 (JobSet's replicated job `node`, job index 0)."""
        selector = f"jobset.sigs.k8s.io/jobset-name={name},jobset.sigs.k8s.io/replicatedjob-name=node,jobset.sigs.k8s.io/job-index=0"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            pods = core_api.list_namespaced_pod(self.namespace, label_selector=selector).items
            running = [p for p in pods if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
            if running:
                return running[0].metadata.name
            time.sleep(self.poll_interval_s)
        raise TrainJobFailed(f"no rank-0 pod for TrainJob {name} within {self.timeout_s:.0f} s")

    def _wait_for_completion(self, custom_api, name: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            job = custom_api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
            for condition in (job.get("status") or {}).get("conditions") or []:
                if condition.get("status") != "True":
                    continue
                if condition.get("type") == "Complete":
                    return
                if condition.get("type") == "Failed":
                    raise TrainJobFailed(
                        f"TrainJob {name} failed: {condition.get('reason', 'unknown reason')}: {condition.get('message', '')}"
                    )
            time.sleep(self.poll_interval_s)
        raise TrainJobFailed(f"TrainJob {name} did not finish within {self.timeout_s:.0f} s")

    def _delete(self, custom_api, name: str, context) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            custom_api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
            context.log.info(f"deleted TrainJob {self.namespace}/{name}")
        except ApiException as exc:
            if exc.status != 404:
                context.log.warning(f"could not delete TrainJob {name}: HTTP {exc.status}")


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _remote_home() -> str | None:
    """STOCK_HOME when it is an object-store URL, else None."""
    from stock_assets.settings import settings

    s = settings()
    return None if s.home_is_local else s.stock_home


def _local_home():
    from stock_assets.settings import local_home

    return local_home()

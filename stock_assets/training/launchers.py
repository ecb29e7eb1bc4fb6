"""How model_checkpoint runs the training entry point. This module: the local launcher,
`torchrun --nproc-per-node N` as a Dagster Pipes subprocess (rank 0 reports back)."""

from __future__ import annotations

import os
import sys

import dagster as dg
from pydantic import Field

ENTRY_POINT = "stock_assets.model.train"


def default_processes() -> int:
    import torch  # here, not at import: loading the code location should not pay for torch

    return torch.cuda.device_count() or 2


class TrainingLauncher(dg.ConfigurableResource):
    """Runs `python -m stock_assets.model.train ARGS` somewhere and returns the Pipes invocation."""

    def launch(self, context: dg.AssetExecutionContext, args: list[str]) -> dg.PipesClientCompletedInvocation:
        raise NotImplementedError


class LocalTorchrunLauncher(TrainingLauncher):
    """DDP on this machine: gloo over N CPU processes, or one process per GPU with nccl."""

    processes: int | None = Field(default=None, description="processes per node (default: GPU count, or 2 on CPU)")
    threads_per_process: int | None = Field(default=None, description="torch threads per process (default: cores / processes)")

    def command(self, args: list[str]) -> list[str]:
        n = self.processes or default_processes()
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", "-m", ENTRY_POINT, *args]

    def launch(self, context: dg.AssetExecutionContext, args: list[str]) -> dg.PipesClientCompletedInvocation:
        n = self.processes or default_processes()
        threads = self.threads_per_process or max(1, (os.cpu_count() or 1) // n)
        client = dg.PipesSubprocessClient(env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        return client.run(command=self.command(args), context=context)

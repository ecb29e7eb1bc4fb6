"""Pure PyTorch: the network, the windows dataset, checkpoints, metrics and the torchrun entry
point. Nothing here imports Dagster: it runs inside training pods (torch, numpy, and
optionally dagster-pipes)."""

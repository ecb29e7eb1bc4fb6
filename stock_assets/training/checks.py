"""Checks of model_checkpoint: a model with non-finite weights is never exported or deployed."""

import dagster as dg

from stock_assets.model.checkpoints import BEST, load_checkpoint, weights_finite
from stock_assets.training.assets import checkpoint_root, model_checkpoint


@dg.asset_check(asset=model_checkpoint, blocking=True, description="every weight of the best checkpoint is finite")
def finite_weights() -> dg.AssetCheckResult:
    state = load_checkpoint(checkpoint_root() / BEST)
    return dg.AssetCheckResult(passed=weights_finite(state["model_state"]), metadata={"epoch": state["epoch"]})


@dg.asset_check(asset=model_checkpoint, description="warns when the calibrated model is worse than the random walk on the test split")
def beats_random_walk() -> dg.AssetCheckResult:
    metrics = load_checkpoint(checkpoint_root() / BEST).get("metrics") or {}
    if not metrics:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"reason": "no test windows"})
    model, walk = metrics["model"]["mae"], metrics["random_walk"]["mae"]
    return dg.AssetCheckResult(
        passed=model <= walk,  # equal = the shrinkage chose the random walk: honest, not a failure
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"mae_model": model, "mae_random_walk": walk, "skill": metrics["model"]["skill"]},
    )

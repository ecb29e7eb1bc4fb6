"""Whether a checkpoint may be resumed on a panel: same configuration and architecture, and
fitted on nothing the new splits validate or test on."""

from __future__ import annotations

from stock_assets.model.network import ModelConfig, StockPredictor
from stock_assets.model.panel import last_target_day


def compatible(state: dict, model: StockPredictor) -> bool:
    """A checkpoint can be resumed when it has this configuration and this architecture."""
    if ModelConfig(**state["model_config"]) != model.config:
        return False
    return set(state["model_state"]) == set(model.state_dict())


def fitted_until(state: dict | None, panel) -> dict[str, str | None]:
    """The last target day of the windows a model trained on and was validated on, over this run
    and every run it resumed from (a resumed model carries what its weights saw)."""
    before = (state or {}).get("fitted", {})
    now = {"training": last_target_day(panel, "train"), "validation": last_target_day(panel, "validation")}
    return {k: max(filter(None, (before.get(k), now[k])), default=None) for k in now}


def resume_refusal(state: dict, model: StockPredictor, panel) -> str | None:
    """Why the checkpoint must not be resumed on this panel, or None. Resuming is sound only when
    the checkpoint's training windows all end before the new validation period and its early
    stopping saw nothing of the new test period: otherwise the resumed weights were fitted on the
    very returns that now select or judge them."""
    if not compatible(state, model):
        return "it holds another model configuration or architecture"
    if "fitted" not in state:
        return "it does not record which days it was fitted on (a checkpoint from before split tracking)"
    fitted = state["fitted"]
    if fitted.get("training") and fitted["training"] >= panel.meta["validation_start"]:
        return (f"its training windows reach {fitted['training']}, on or after the new validation start "
                f"{panel.meta['validation_start']} (the splits moved back)")
    if fitted.get("validation") and fitted["validation"] >= panel.meta["test_start"]:
        return (f"its early stopping used returns up to {fitted['validation']}, on or after the new test start "
                f"{panel.meta['test_start']} (the splits moved back)")
    return None

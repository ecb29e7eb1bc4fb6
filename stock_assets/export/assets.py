"""onnx_model: the best checkpoint as ONNX, checked for parity, gated against the served
version, and published to Triton's repository."""

import json
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import onnx
import torch
from upath import UPath

from stock_assets.automation import when_upstream_changed
from stock_assets.export.gate import (NEWS, PRICE, RANDOM_WALK, Forecasts, choose, gate_table, gate_windows, judge, run_model,
                                      scores_of, unseen_windows)
from stock_assets.export.onnx_export import OPSET, export_onnx, model_from_checkpoint, onnx_session, parity, random_batch
from stock_assets.export.triton_repository import MODEL_NAME, publish, versions
from stock_assets.settings import stock_home
from stock_assets.model.calibration import random_walk_scale
from stock_assets.model.checkpoints import BEST, variant_folder
from stock_assets.model.panel import Panel, WindowDataset, load_panel
from stock_assets.model.report import metrics_table
from stock_assets.teams import ML_ENGINEERING
from stock_assets.training.assets import checkpoint_root, model_checkpoint, panel_root

PARITY_LIMIT = 1e-4  # the contract's limit; config may only tighten it
BATCH_SIZES = (1, 8, 64)


def model_repository() -> UPath:
    return stock_home() / "models" / MODEL_NAME


class OnnxConfig(dg.Config):
    keep_versions: int = 3
    max_batch_size: int = 64
    parity_limit: float = PARITY_LIMIT
    gate_windows: int = 5000  # the most recent test-split windows every candidate and the champion are scored on
    # the level of every decision of the gate (one-sided Diebold-Mariano, EWC variance, Student-t): a network
    # is served only when it beats the random walk (news: and the price-only network) at p below it,
    # and a challenger is kept out only when it is worse than the served version at p below it
    gate_evidence_p: float = 0.05
    # a version whose forecasts equal the served one's is not published (no redeploy); true publishes
    # it anyway, e.g. to rebuild a Triton repository that lost its versions
    publish_unchanged: bool = False
    # set by the demotion sensor: publish the random walk with a calibrated band, for this reason
    # (the live record of the served version is significantly worse than the random walk)
    demote_reason: str = ""


def current_panel(news_dim: int) -> Panel | None:
    try:
        panel = load_panel(panel_root())
    except FileNotFoundError:
        return None
    return panel if panel.news_dim == news_dim else None


def real_batches(news_dim: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Windows from the training panel (test split first), at each batch size."""
    panel = current_panel(news_dim)
    if panel is None:
        return []
    dataset = next((d for d in (WindowDataset(panel, s) for s in ("test", "validation", "train")) if len(d)), None)
    batches = []
    for size in BATCH_SIZES:
        if dataset is None or len(dataset) < size:
            continue
        items = [dataset[i] for i in range(size)]
        batches.append((np.stack([p.numpy() for p, _, _ in items]), np.stack([n.numpy() for _, n, _ in items])))
    return batches


def champion_forecasts(panel: Panel | None, windows, news_dim: int) -> tuple[int | None, Forecasts | None]:
    """The served (latest published) version and its forecasts on the gate windows, when comparable."""
    published = versions(model_repository())
    if not published:
        return None, None
    version = published[-1]
    if panel is None:
        return version, None
    session = onnx_session(model_repository() / str(version) / "model.onnx")
    width = session.get_inputs()[1].shape[-1]
    if width != news_dim or len(session.get_outputs()) < 2:  # another embedder, or a model from before the quantiles
        return version, None
    return version, run_model(session, panel, *windows)


def price_only_candidate(news_state: dict):
    """The price-only network trained beside the news network on the same splits and data, or None
    (with why) when there is none: ablation off, or a checkpoint of other data."""
    path = variant_folder(checkpoint_root(), "price") / BEST
    if not path.exists():
        return None, None, "no price-only network (model_checkpoint ablation: false)"
    model, state = model_from_checkpoint(path)
    if state.get("data") != news_state.get("data"):
        return None, None, "the price-only checkpoint was trained on other data or splits: ignored"
    return model, state, ""


def gate_check(passed: bool, decision: str, served: str | None, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    # A kept champion is the gate working, not a broken run: the failed check shows as a warning
    # and nothing is published (the deploy sensor only sees published versions).
    return dg.AssetCheckResult(check_name="champion_challenger", passed=passed, severity=severity,
                               metadata={"decision": decision, "served_network": served or "–"})


@dg.asset(
    owners=ML_ENGINEERING,
    group_name="serving",
    kinds={"onnx", "triton"},
    deps=[model_checkpoint],
    automation_condition=when_upstream_changed,
    check_specs=[
        dg.AssetCheckSpec("onnx_parity", asset="onnx_model", blocking=True,
                          description=f"onnxruntime matches PyTorch within {PARITY_LIMIT} (relative to the last close) on both outputs"),
        dg.AssetCheckSpec("gate_windows_unseen", asset="onnx_model", blocking=True,
                          description="every gate window lies wholly after the last day either network was trained, early-stopped "
                                      "or calibrated on (otherwise the gate refuses to judge and nothing is published)"),
        dg.AssetCheckSpec("champion_challenger", asset="onnx_model", blocking=True,
                          description="news, price-only or random walk chosen by one significance rule on unseen windows; the choice "
                                      "replaces the served version unless significantly worse on the same windows"),
    ],
)
def onnx_model(context: dg.AssetExecutionContext, config: OnnxConfig):
    """The served network exported to ONNX (dynamic batch axis; inputs price_input [B,30,1] and
    news_input [B,30,D]; outputs forecast [B,5] and forecast_quantiles [B,5,3]; normalization,
    shrinkage and interval calibration inside the graph) and published as a new numeric version of
    `stock_predictor` in the Triton model repository. Which network is served (the news network, the
    price-only one, or the random walk with a calibrated band) is decided by one significance rule
    on test-split windows neither network ever used; it is published only when onnxruntime matches
    PyTorch, it is not significantly worse than the served version, and its forecasts differ from it.
    """
    news_model, news_state = model_from_checkpoint(checkpoint_root() / BEST)
    news_dim = news_model.config.news_dim
    panel = current_panel(news_dim)
    price_model, price_state, price_note = price_only_candidate(news_state)
    windows = gate_windows(panel, config.gate_windows) if panel is not None else (np.zeros(0, int), np.zeros(0, int))
    fitted = {NEWS: (news_state.get("fitted") or {}).get("validation")}
    if price_state is not None:
        fitted[PRICE] = (price_state.get("fitted") or {}).get("validation")
    clean, windows_note = unseen_windows(panel, windows[1], fitted) if panel is not None else (False, "no training panel for this news width")
    real = real_batches(news_dim)
    batches = real + [random_batch(size, news_dim, seed=size) for size in BATCH_SIZES]
    limit = min(config.parity_limit, PARITY_LIMIT)
    champion_version, champion = champion_forecasts(panel, windows, news_dim) if clean else (None, None)
    with tempfile.TemporaryDirectory() as tmp:

        def exported(model, name: str):
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(model, path)
            session = onnx_session(path)
            return path, parity(model, session, batches), (run_model(session, panel, *windows) if clean else None)

        candidates = {NEWS: (news_model, news_state, *exported(news_model, "news"))}
        if price_model is not None:
            candidates[PRICE] = (price_model, price_state, *exported(price_model, "price"))
        served, reason = choose(candidates[NEWS][4], candidates.get(PRICE, (None,) * 5)[4], config.gate_evidence_p) if clean else (None, windows_note)
        if config.demote_reason:
            served, reason = RANDOM_WALK, f"demoted: {config.demote_reason}"
        if served == RANDOM_WALK:  # the band of the network without news when there is one, refitted for a zero median
            model, state = candidates[PRICE][:2] if PRICE in candidates else candidates[NEWS][:2]
            model.shrinkage.zero_()
            if "validation_predictions" in state:  # a checkpoint from before they were recorded keeps its scale
                model.interval_scale.copy_(torch.from_numpy(random_walk_scale(state["validation_predictions"])))
            candidates[RANDOM_WALK] = (model, state, *exported(model, "random_walk"))
        model, state, path, errors, chosen = candidates[served or NEWS]
        parity_ok = errors["max_abs_error_relative"] <= limit
        publish_ok, unchanged, judged = judge(chosen, champion, champion_version, config.gate_evidence_p) if clean else (False, False, windows_note)
        if unchanged and config.publish_unchanged:
            publish_ok, unchanged, judged = True, False, f"{judged}; published anyway (publish_unchanged)"
        if config.demote_reason:  # the live record decided, not the gate
            publish_ok, unchanged, judged = True, False, "replaces the served version"
        decision = f"{served}: {reason}; {judged}" if clean or config.demote_reason else windows_note
        if not parity_ok:
            decision = f"not published: ONNX/PyTorch parity error {errors['max_abs_error_relative']:.2e} > {limit:.0e}"
        published = parity_ok and publish_ok
        scores = scores_of(chosen) if chosen is not None else None
        evaluation = {**(scores.as_dict() if scores else {}), "served_network": served, "figure": "selection (gate windows)",
                      "test_split": compact(state.get("metrics"))}
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, {
            "max_abs_error_relative": str(errors["max_abs_error_relative"]),
            "watermark": state["watermark"], "epoch": str(state["epoch"]), "served_network": str(served),
            "evaluation": json.dumps(evaluation), "publication_reason": decision,
            "calibration": json.dumps({**state.get("calibration", {}), "shrinkage": model.shrinkage.tolist(),
                                       "interval_scale": model.interval_scale.tolist()}),
        })
        onnx.save(proto, str(path))
        version = publish(model_repository(), path, news_dim, config.keep_versions, config.max_batch_size) if published else None
        size = path.stat().st_size
        rows = {label: c[4] for label, c in candidates.items()}
        if RANDOM_WALK not in rows and chosen is not None:
            rows[RANDOM_WALK] = chosen.as_random_walk(chosen.band)
        if champion is not None:
            rows[f"served version {champion_version}"] = champion
    (context.log.info if published or unchanged else context.log.warning)(decision)
    severity = dg.AssetCheckSeverity.ERROR if publish_ok or unchanged else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata={
            "version": version if version is not None else -1,
            "published": published,
            "decision": decision,
            "served_network": served or "–",
            "served_version": version if version is not None else (champion_version or -1),
            "gate_skill": scores.skill if scores else float("nan"),
            "gate_p_value": scores.p_value if scores else float("nan"),
            "gate_windows": windows_note,
            "price_only": price_note or "compared",
            "gate": dg.MetadataValue.md(gate_table(rows, served, candidates.get(PRICE, (None,) * 5)[4]) if clean else windows_note),
            "evaluation": dg.MetadataValue.md(metrics_table(state.get("metrics") or {})),
            "repository": dg.MetadataValue.path(str(model_repository())),
            "news_dim": news_dim,
            "opset": OPSET,
            "file_bytes": size,
            "watermark": state["watermark"],
            **errors,
            "real_batches": len(real),
        },
        check_results=[
            dg.AssetCheckResult(check_name="onnx_parity", passed=parity_ok, metadata={**errors, "limit": limit}),
            dg.AssetCheckResult(check_name="gate_windows_unseen", passed=clean or bool(config.demote_reason),
                                metadata={"windows": windows_note, "demotion": config.demote_reason or "–"},
                                severity=dg.AssetCheckSeverity.ERROR),
            gate_check(publish_ok or unchanged, decision, served, severity),
        ],
    )


def compact(metrics: dict | None) -> dict:
    """The test-split figures worth carrying with the model file."""
    if not metrics:
        return {}
    model = metrics["model"]
    return {"skill": model.get("skill"), "coverage_80": model.get("coverage_80"), "windows": metrics["windows"]["count"],
            "dm_p_value": model["dm_vs_random_walk"]["p_value"]}

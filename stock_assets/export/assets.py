"""onnx_model: the best checkpoint as ONNX, checked for parity, gated against the served
version, and published to Triton's repository."""

import json
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import onnx

from stock_assets.automation import when_upstream_changed
from stock_assets.export.gate import Scores, decide, random_walk_reason, recent_windows, score
from stock_assets.export.onnx_export import OPSET, export_onnx, model_from_checkpoint, onnx_session, parity, random_batch
from stock_assets.export.triton_repository import MODEL_NAME, publish, versions
from stock_assets.lake import local_home
from stock_assets.model.checkpoints import BEST
from stock_assets.model.panel import Panel, WindowDataset, load_panel
from stock_assets.model.report import metrics_table
from stock_assets.teams import ML_ENGINEERING
from stock_assets.training.assets import checkpoint_root, model_checkpoint, panel_root

PARITY_LIMIT = 1e-4  # the contract's limit; config may only tighten it
BATCH_SIZES = (1, 8, 64)


def model_repository() -> Path:
    return local_home() / "models" / MODEL_NAME


class OnnxConfig(dg.Config):
    keep_versions: int = 3
    max_batch_size: int = 64
    parity_limit: float = PARITY_LIMIT
    gate_tolerance: float = 0.002  # the challenger may trail the champion's skill by this much (0.2 pp)
    gate_windows: int = 5000  # the most recent validation/test windows both models are scored on
    # a move away from the last close is served only when its gain over the random walk on those
    # windows has a one-sided Diebold-Mariano p-value below this; otherwise shrinkage 0 is published
    gate_evidence_p: float = 0.05


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


def champion_scores(panel: Panel | None, windows, news_dim: int) -> tuple[int | None, Scores | None]:
    """The served (latest published) version and its scores on the same windows, when comparable."""
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
    return version, score(session, panel, *windows)


def gate_check(passed: bool, decision: str, challenger: Scores | None, champion: Scores | None) -> dg.AssetCheckResult:
    metadata = {"decision": decision}
    if challenger:
        metadata["challenger_skill"] = challenger.skill
    if champion:
        metadata["champion_skill"] = champion.skill
    # A kept champion is the gate working, not a broken run: the failed check shows as a warning
    # and nothing is published (the deploy sensor only sees published versions).
    return dg.AssetCheckResult(check_name="champion_challenger", passed=passed, metadata=metadata,
                               severity=dg.AssetCheckSeverity.ERROR if passed else dg.AssetCheckSeverity.WARN)


@dg.asset(
    owners=ML_ENGINEERING,
    group_name="serving",
    kinds={"onnx", "triton"},
    deps=[model_checkpoint],
    automation_condition=when_upstream_changed,
    check_specs=[
        dg.AssetCheckSpec("onnx_parity", asset="onnx_model", blocking=True,
                          description=f"onnxruntime matches PyTorch within {PARITY_LIMIT} (relative to the last close) on both outputs"),
        dg.AssetCheckSpec("champion_challenger", asset="onnx_model", blocking=True,
                          description="the new version's skill on recent windows is >= 0 (random walk) and not worse than the "
                                      "served version's on the same windows; otherwise it is not published"),
    ],
)
def onnx_model(context: dg.AssetExecutionContext, config: OnnxConfig):
    """The best checkpoint exported to ONNX (dynamic batch axis; inputs price_input [B,30,1] and
    news_input [B,30,D]; outputs forecast [B,5] and forecast_quantiles [B,5,3]; normalization,
    shrinkage and interval calibration inside the graph). Published as a new numeric version of
    `stock_predictor` in the Triton model repository only when onnxruntime matches PyTorch and the
    champion/challenger gate passes: never worse than the random walk, nor than the served version.
    """
    model, state = model_from_checkpoint(checkpoint_root() / BEST)
    news_dim = model.config.news_dim
    panel = current_panel(news_dim)
    windows = recent_windows(panel, config.gate_windows) if panel is not None else (np.zeros(0, int), np.zeros(0, int))
    real = real_batches(news_dim)
    random = [random_batch(size, news_dim, seed=size) for size in BATCH_SIZES]
    limit = min(config.parity_limit, PARITY_LIMIT)
    champion_version, champion = champion_scores(panel, windows, news_dim)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"

        def export_and_score():
            export_onnx(model, path)
            session = onnx_session(path)
            return parity(model, session, real + random), (score(session, panel, *windows) if panel is not None else None)

        errors, challenger = export_and_score()
        fallback = random_walk_reason(challenger, champion_version, config.gate_evidence_p) or ""
        if fallback:  # the random walk with the calibrated band: never worse, and no move without evidence
            model.shrinkage.zero_()
            errors, challenger = export_and_score()
        parity_ok = errors["max_abs_error_relative"] <= limit
        gate_ok, decision = decide(challenger, champion, champion_version, config.gate_tolerance, fallback)
        if not parity_ok:
            decision = f"not published: ONNX/PyTorch parity error {errors['max_abs_error_relative']:.2e} > {limit:.0e}"
        published = parity_ok and gate_ok
        evaluation = {**(challenger.as_dict() if challenger else {}), "test_split": compact(state.get("metrics"))}
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, {
            "max_abs_error_relative": str(errors["max_abs_error_relative"]),
            "watermark": state["watermark"], "epoch": str(state["epoch"]),
            "evaluation": json.dumps(evaluation),
            "calibration": json.dumps({**state.get("calibration", {}), "shrinkage": model.shrinkage.tolist()}),
        })
        onnx.save(proto, str(path))
        version = publish(model_repository(), path, news_dim, config.keep_versions, config.max_batch_size) if published else None
        size = path.stat().st_size
    (context.log.info if published else context.log.warning)(decision)
    return dg.MaterializeResult(
        metadata={
            "version": version if version is not None else -1,
            "published": published,
            "decision": decision,
            "served_version": version if version is not None else (champion_version or -1),
            "challenger_skill": challenger.skill if challenger else float("nan"),
            "champion_skill": champion.skill if champion else float("nan"),
            "gate": dg.MetadataValue.md(gate_table(challenger, champion, champion_version)),
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
            gate_check(gate_ok, decision, challenger, champion),
        ],
    )


def compact(metrics: dict | None) -> dict:
    """The test-split figures worth carrying with the model file."""
    if not metrics:
        return {}
    model = metrics["model"]
    return {"skill": model.get("skill"), "coverage_80": model.get("coverage_80"), "windows": metrics["windows"]["count"],
            "dm_p_value": model["dm_vs_random_walk"]["p_value"]}


def gate_table(challenger: Scores | None, champion: Scores | None, champion_version: int | None) -> str:
    lines = ["| model | skill vs random walk | one-sided DM p | MAE | MAE random walk | 80 % coverage | windows | days |",
             "|---|---|---|---|---|---|---|---|"]
    for label, s in (("challenger", challenger), (f"champion v{champion_version}" if champion_version else "champion", champion)):
        if s is None:
            lines.append(f"| {label} | – | – | – | – | – | – | – |")
        else:
            lines.append(f"| {label} | {s.skill:+.2%} | {s.p_value:.2f} | {s.mae:.5f} | {s.mae_random_walk:.5f} | {s.coverage_80:.3f} | "
                         f"{s.windows} | {s.first_day}..{s.last_day} |")
    return "\n".join(lines)

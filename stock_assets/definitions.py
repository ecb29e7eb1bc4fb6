"""The Dagster code location: every asset, check and resource of the platform."""

import os

import dagster as dg

from stock_assets.backfills import executor
from stock_assets.config import Settings
from stock_assets.deploy.resources import ChatbotDeployer, TritonDeployer
from stock_assets.deploy.sensors import chatbot_redeploy_sensor, deploy_triton_job, redeploy_chatbot_job, triton_deploy_sensor
from stock_assets.export.assets import onnx_model
from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource
from stock_assets.lake import LakeIOManager, LakeResource, lake_root
from stock_assets.settings import local_home
from stock_assets.news.assets import chroma_collection, news_embeddings
from stock_assets.news.resources import ChromaResource, EmbedderResource
from stock_assets.track.assets import forecast_scores, served_forecasts
from stock_assets.track.resources import ServedModelResource
from stock_assets.track.sensors import demote_served_version, demotion_sensor
from stock_assets.training.assets import model_checkpoint, training_windows
from stock_assets.training.checks import beats_random_walk, finite_weights
from stock_assets.training.kubeflow import KubeflowTrainJobLauncher
from stock_assets.training.launchers import LocalTorchrunLauncher, TrainingLauncher


def local_triton_repository(triton_url: str) -> str | None:
    """A Triton on this machine is the `make triton` server, which serves a mirrored repository."""
    host = triton_url.split("://")[-1].split(":")[0].split("/")[0]
    return str(local_home() / "triton_local" / "repository") if host in ("127.0.0.1", "localhost") else None


def training_launcher(name: str) -> TrainingLauncher:
    """STOCK_TRAIN_LAUNCHER: `local` (torchrun here) or `kubeflow` (a TrainJob on the cluster)."""
    if name == "local":
        return LocalTorchrunLauncher()
    if name == "kubeflow":  # sized by the cluster's stock-config ConfigMap
        env = os.environ
        return KubeflowTrainJobLauncher(
            image=env.get("STOCK_IMAGE", "ghcr.io/example/stock-news:0.1.0"),
            namespace=env.get("STOCK_NAMESPACE", "mlteam"),
            num_nodes=int(env.get("STOCK_TRAIN_NUM_NODES", "2")),
            num_proc_per_node=int(env.get("STOCK_TRAIN_PROC_PER_NODE", "1")),
            gpus_per_node=int(env.get("STOCK_TRAIN_GPUS_PER_NODE", "0")),
        )
    raise ValueError(f"STOCK_TRAIN_LAUNCHER={name!r} is not one of local, kubeflow")


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    lake = LakeResource(base_url=str(lake_root()))
    return dg.Definitions(
        assets=[raw_prices, raw_news, news_embeddings, chroma_collection, training_windows, model_checkpoint, onnx_model,
                served_forecasts, forecast_scores],
        asset_checks=[finite_weights, beats_random_walk],
        jobs=[deploy_triton_job, redeploy_chatbot_job, demote_served_version],
        sensors=[triton_deploy_sensor, chatbot_redeploy_sensor, demotion_sensor],
        executor=executor(),
        resources={
            "io_manager": LakeIOManager(lake=lake),
            "lake": lake,
            "price_source": PriceSourceResource(
                source=settings.price_source,
                symbols=list(settings.symbols),
                replay_dir=settings.replay_dir,
            ),
            "news_source": NewsSourceResource(
                source=settings.news_source,
                symbols=list(settings.symbols),
                replay_dir=settings.replay_dir,
            ),
            "embedder": EmbedderResource(model=settings.embedder),
            "chroma": ChromaResource(host=settings.chroma_host, port=settings.chroma_port),
            "trainer": training_launcher(settings.train_launcher),
            "served_model": ServedModelResource(triton_url=settings.triton_url),
            "triton": TritonDeployer(url=settings.triton_url, local_repository=local_triton_repository(settings.triton_url)),
            "chatbot": ChatbotDeployer(api_url=settings.api_url, mode=os.environ.get("CHATBOT_DEPLOY_MODE", "local")),
        },
    )


defs = build_definitions()

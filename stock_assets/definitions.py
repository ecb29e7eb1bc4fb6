"""The Dagster code location: every asset, check and resource of the platform."""

import dagster as dg

from stock_assets.config import Settings
from stock_assets.ingest.assets import raw_news, raw_prices
from stock_assets.ingest.resources import NewsSourceResource, PriceSourceResource
from stock_assets.lake import LakeIOManager, LakeResource, lake_root


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    lake = LakeResource(base_url=str(lake_root()))
    return dg.Definitions(
        assets=[raw_prices, raw_news],
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
        },
    )


defs = build_definitions()

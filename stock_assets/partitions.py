"""The one daily partitions definition every partitioned asset uses."""

import dagster as dg

from stock_assets.config import Settings

NEW_YORK = "America/New_York"


def daily_partitions(settings: Settings | None = None) -> dg.DailyPartitionsDefinition:
    """Calendar days in New York time from STOCK_START_DATE to STOCK_END_DATE (exclusive).

    end_offset=1 makes today's partition exist, so the after-close run can fill the day it is on.
    """
    settings = settings or Settings.from_env()
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date,
        end_date=settings.end_date,
        timezone=NEW_YORK,
        end_offset=1 if settings.end_date is None else 0,
    )


daily_partitions_def = daily_partitions()

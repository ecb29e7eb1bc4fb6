"""NYSE regular sessions: weekdays minus the exchange's full-day holidays.

Used to know when a trading day *should* have prices (so an all-empty download is recognised
as a failure, not a holiday) and by the synthetic source. Unscheduled closures (for example
2012-10-29/30, Hurricane Sandy) are not in it.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
)

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)


class NYSEHolidayCalendar(AbstractHolidayCalendar):
    rules = [
        Holiday("NewYearsDay", month=1, day=1, observance=nearest_workday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("IndependenceDay", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


def sessions(start: date, end: date) -> pd.DatetimeIndex:
    """Expected NYSE sessions in [start, end) (dates at midnight, tz-naive)."""
    if end <= start:
        return pd.DatetimeIndex([])
    last = pd.Timestamp(end) - pd.Timedelta(days=1)
    days = pd.bdate_range(pd.Timestamp(start), last)
    holidays = NYSEHolidayCalendar().holidays(pd.Timestamp(start), last)
    # New Year's Day on a Saturday is not observed on the Friday before (NYSE rule 7.2).
    return days[~days.isin(holidays) | ((days.month == 12) & (days.day == 31))]


def session_closed(day: date, now: datetime | None = None) -> bool:
    """True once the regular session of `day` has closed (16:00 New York)."""
    now = now or datetime.now(tz=NEW_YORK)
    return now.astimezone(NEW_YORK) >= datetime.combine(day, MARKET_CLOSE, tzinfo=NEW_YORK)

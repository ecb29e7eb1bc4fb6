"""NYSE sessions and their closes, from exchange_calendars (XNYS): the exchange's real calendar,
with its unscheduled closures (2012-10-29/30 Hurricane Sandy, 2018-12-05 and 2025-01-09 national
days of mourning) and early closes (13:00 New York, e.g. 2019-07-03).

Used wherever a session is needed: which days must have prices, whether a session has closed
(raw assets' automation and partitions), which session a headline belongs to (the first one that
closes after it was published), the panel's session axis and the synthetic source.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = date(1990, 1, 1)  # the synthetic source's origin; the calendar covers back to here
YEARS_AHEAD = 2  # exchange_calendars knows scheduled holidays this far ahead


@lru_cache(maxsize=1)
def _calendar(last: date) -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start=FIRST_DAY.isoformat(), end=last.isoformat())


def calendar() -> xcals.ExchangeCalendar:
    """XNYS from FIRST_DAY to YEARS_AHEAD years from today (built once per process and day)."""
    return _calendar(date.today().replace(month=12, day=31) + timedelta(days=365 * YEARS_AHEAD))


def _clip(day: date) -> pd.Timestamp:
    cal = calendar()
    return min(max(pd.Timestamp(day), cal.first_session), cal.last_session + pd.Timedelta(days=1))


def sessions(start: date, end: date) -> pd.DatetimeIndex:
    """NYSE sessions in [start, end) (dates at midnight, tz-naive)."""
    if end <= start:
        return pd.DatetimeIndex([])
    first, last = _clip(start), _clip(end) - pd.Timedelta(days=1)
    if last < first:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(calendar().sessions_in_range(first, last)).tz_localize(None)


def sessions_after(day: date, count: int) -> pd.DatetimeIndex:
    """The first `count` NYSE sessions strictly after `day` (fewer past the calendar's end)."""
    start = day + pd.Timedelta(days=1)
    return sessions(start, start + pd.Timedelta(days=2 * count + 15))[:count]


def is_session(day: date) -> bool:
    cal = calendar()
    stamp = pd.Timestamp(day)
    return bool(cal.first_session <= stamp <= cal.last_session and cal.is_session(stamp))


def non_sessions(days: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Boolean mask: which of these dates are not NYSE sessions (weekends, holidays, closures)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(days))).normalize()
    if not len(stamps):
        return np.zeros(0, dtype=bool)
    known = sessions(stamps.min().date(), stamps.max().date() + timedelta(days=1))
    return ~stamps.isin(known)


def session_close_times(days: pd.DatetimeIndex) -> np.ndarray:
    """UTC nanoseconds of each session's close: 16:00 New York, 13:00 on early-close days. A day
    that is not a session gets 16:00 (the panel only holds sessions; this keeps old data usable)."""
    days = pd.DatetimeIndex(days).normalize()
    regular = (days + pd.Timedelta(hours=16)).tz_localize(NEW_YORK).tz_convert("UTC")
    if not len(days):
        return regular.as_unit("ns").asi8
    found = pd.to_datetime(calendar().closes.reindex(days.tz_localize(None)), utc=True)  # NaT off the calendar
    actual = found.where(found.notna(), pd.Series(regular, index=found.index))
    return pd.DatetimeIndex(actual).as_unit("ns").asi8


def session_close(day: date) -> datetime | None:
    """The close of `day`'s session in New York time, or None when `day` is not a session."""
    if not is_session(day):
        return None
    return calendar().session_close(pd.Timestamp(day)).tz_convert(NEW_YORK).to_pydatetime()


def session_closed(day: date, now: datetime | None = None) -> bool:
    """True once the session of `day` has closed (its real close, early closes included). A day
    that is not a session has nothing to wait for: True."""
    close = session_close(day)
    if close is None:
        return True
    now = now or datetime.now(tz=NEW_YORK)
    return now.astimezone(NEW_YORK) >= close

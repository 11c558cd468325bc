"""Opening hours: when a location's clock runs for work that waits on its staff."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stores.models import Location

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 14


def _window(hours: dict, day, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The day's opening window (a close at or before the opening runs past midnight)."""
    try:
        opens, closes = hours[DAYS[day.weekday()]]
        start = datetime.combine(day, time.fromisoformat(opens), tz)
        end = (
            datetime.combine(day + timedelta(days=1), time.min, tz)
            if closes == "24:00"
            else datetime.combine(day, time.fromisoformat(closes), tz)
        )
    except (KeyError, TypeError, ValueError):
        return None  # closed that day, or hours we cannot read
    if end <= start:
        end += timedelta(days=1)
    return start, end


def location_open_deadline(*, location: Location, start: datetime, minutes: int) -> datetime:
    """When `minutes` of the location's opening hours will have passed since `start`.

    A location without opening hours (a warehouse working around the clock) counts every
    minute, and so does one whose hours cannot be read or that is closed for two weeks.
    """
    wall_clock = start + timedelta(minutes=minutes)
    hours = location.opening_hours or {}
    if not hours:
        return wall_clock
    try:
        tz = ZoneInfo(location.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return wall_clock
    left = timedelta(minutes=minutes)
    local = start.astimezone(tz)
    # Yesterday's window too: it may run past midnight into today.
    for offset in range(-1, LOOKAHEAD_DAYS):
        window = _window(hours, local.date() + timedelta(days=offset), tz)
        if window is None or window[1] <= local:
            continue
        begin = max(local, window[0])
        if begin + left <= window[1]:
            return begin + left
        left -= window[1] - begin
        local = window[1]
    return wall_clock

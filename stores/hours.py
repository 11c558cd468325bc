"""Opening hours: when a location's clock runs for work that waits on its staff."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stores.models import Location

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 14


def _window(hours: dict, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The day's opening window in UTC; a close at or before the opening (or "24:00") is
    on the next day. None when closed that day, or for hours that cannot be read."""
    try:
        opens, closes = hours[DAYS[day.weekday()]]
        start = datetime.combine(day, time.fromisoformat(opens), tz)
        if closes == "24:00":
            end = datetime.combine(day + timedelta(days=1), time.min, tz)
        else:
            end = datetime.combine(day, time.fromisoformat(closes), tz)
            if end <= start:
                end = datetime.combine(day + timedelta(days=1), time.fromisoformat(closes), tz)
    except (KeyError, TypeError, ValueError):
        return None
    # In UTC, so a day that loses or gains an hour to daylight saving is as long as it is.
    return start.astimezone(UTC), end.astimezone(UTC)


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
    cursor = start.astimezone(UTC)
    first_day = start.astimezone(tz).date()
    # From yesterday: its window may run past midnight into today.
    for offset in range(-1, LOOKAHEAD_DAYS):
        window = _window(hours, first_day + timedelta(days=offset), tz)
        if window is None or window[1] <= cursor:
            continue
        begin = max(cursor, window[0])
        if begin + left <= window[1]:
            return (begin + left).astimezone(tz)
        left -= window[1] - begin
        cursor = window[1]
    return wall_clock

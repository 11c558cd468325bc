"""A location's SLA clock runs only while it is open."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stores.hours import location_open_deadline
from stores.models import Location

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAILY = {day: ["10:00", "22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """December 2026 in Shanghai: the 7th is a Monday."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def store(opening_hours: dict, tz: str = "Asia/Shanghai") -> Location:
    return Location(code="S", opening_hours=opening_hours, timezone=tz, latitude=0, longitude=0)


def test_a_location_without_opening_hours_counts_every_minute():
    assert location_open_deadline(location=store({}), start=at(7, 3), minutes=90) == at(7, 4, 30)


def test_work_that_arrives_while_open_is_due_within_the_same_day():
    assert location_open_deadline(location=store(DAILY), start=at(7, 15), minutes=60) == at(7, 16)


def test_work_that_arrives_at_night_is_due_an_hour_after_opening():
    deadline = location_open_deadline(location=store(DAILY), start=at(7, 23, 30), minutes=60)

    assert deadline == at(8, 11)


def test_what_is_left_at_closing_carries_over_to_the_next_opening():
    deadline = location_open_deadline(location=store(DAILY), start=at(7, 21, 30), minutes=60)

    assert deadline == at(8, 10, 30)


def test_closed_days_are_skipped():
    weekdays = {day: ["09:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}

    deadline = location_open_deadline(location=store(weekdays), start=at(12, 12), minutes=30)

    assert deadline == at(14, 9, 30)  # Saturday noon -> Monday 09:30


def test_hours_past_midnight_belong_to_the_day_they_opened():
    late_nights = {day: ["18:00", "02:00"] for day in DAILY}

    deadline = location_open_deadline(location=store(late_nights), start=at(8, 1, 30), minutes=60)

    assert deadline == at(8, 18, 30)  # 30 minutes before 02:00, the rest from 18:00


def test_hours_are_read_in_the_location_own_timezone():
    utc_start = datetime(2026, 12, 7, 1, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 in Shanghai

    deadline = location_open_deadline(location=store(DAILY), start=utc_start, minutes=30)

    assert deadline == at(7, 10, 30)


@pytest.mark.parametrize(
    "hours", [{"mon": "all day"}, {"mon": ["10"]}, {"mon": ["ten", "six"]}, {"funday": ["1", "2"]}]
)
def test_unreadable_hours_fall_back_to_the_wall_clock(hours):
    deadline = location_open_deadline(location=store(hours), start=at(7, 23), minutes=60)

    assert deadline == at(8, 0)


def test_unknown_timezone_falls_back_to_the_wall_clock():
    deadline = location_open_deadline(
        location=store(DAILY, tz="Mars/Olympus"), start=at(7, 23), minutes=60
    )

    assert deadline == at(8, 0)


@pytest.mark.parametrize(
    ("hours", "minutes", "due"),
    [
        (["00:00", "24:00"], 120, at(8, 1)),  # open around the clock: 23:00 + 2 h
        (["22:00", "06:00"], 8 * 60, at(8, 23)),  # 7 h until 06:00, the last from 22:00 Tue
        (["10:00", "01:00"], 150, at(8, 10, 30)),  # 2 h until 01:00, the rest from 10:00
    ],
)
def test_windows_that_run_past_midnight_count_every_day(hours, minutes, due):
    daily = dict.fromkeys(DAILY, hours)

    assert location_open_deadline(location=store(daily), start=at(7, 23), minutes=minutes) == due


def test_a_day_that_loses_an_hour_to_daylight_saving_counts_real_minutes():
    new_york = ZoneInfo("America/New_York")
    around_the_clock = {day: ["00:00", "24:00"] for day in DAILY}
    before_the_change = datetime(2026, 3, 8, 1, 0, tzinfo=new_york)  # 02:00 becomes 03:00

    deadline = location_open_deadline(
        location=store(around_the_clock, tz="America/New_York"),
        start=before_the_change,
        minutes=120,
    )

    assert deadline - before_the_change.astimezone(ZoneInfo("UTC")) == timedelta(hours=2)
    assert deadline == datetime(2026, 3, 8, 4, 0, tzinfo=new_york)

from datetime import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from common.errors import DomainError
from common.models import Channel
from stores.hours import DAYS
from stores.models import Location, StaffMembership


def location_update_rejection_rate(*, location: Location, rate: float) -> None:
    """Kept by fulfillment: the share of recent fulfillment orders this location rejected."""
    rate = min(1.0, max(0.0, rate))
    Location.objects.filter(pk=location.pk).update(recent_rejection_rate=rate)
    location.recent_rejection_rate = rate


@transaction.atomic
def store_token_user_get_or_create(*, location: Location) -> AbstractBaseUser:
    """The service user a store's app authenticates as: staff (an associate) of that store only,
    so its token sees and changes what the store's own associates may, and no other store's."""
    user, _ = get_user_model().objects.get_or_create(
        username=f"channel-{Channel.STORE}-{location.code.lower()}",
        defaults={"first_name": f"{location.code} store app"},
    )
    StaffMembership.objects.get_or_create(
        user=user, location=location, defaults={"role": StaffMembership.Role.ASSOCIATE}
    )
    return user


class SettingsInvalid(DomainError):
    code = "invalid_settings"
    status = 400
    default_detail = "These store settings cannot be used."


SETTINGS_FIELDS = (
    "opening_hours", "pickup_hold_hours", "accept_sla_minutes", "daily_ship_capacity",
    "can_ship", "can_pickup", "can_curbside", "accepts_returns",
)  # fmt: skip


def _check_opening_hours(hours) -> dict[str, str]:
    errors = {}
    if not isinstance(hours, dict):
        return {"opening_hours": 'Give hours per weekday, e.g. {"mon": ["10:00", "22:00"]}.'}
    for day, window in hours.items():
        if day not in DAYS:
            errors["opening_hours"] = f"{day!r} is not a weekday; use {', '.join(DAYS)}."
            break
        try:
            opens, closes = window
            time.fromisoformat(opens)
            if closes != "24:00":
                time.fromisoformat(closes)
        except (TypeError, ValueError):
            errors["opening_hours"] = f"{day}: give opening and closing time as HH:MM."
            break
    return errors


def location_settings_errors(*, location: Location, changes: dict) -> dict[str, str]:
    """What is wrong with `changes` to `location`'s settings, per field (empty: nothing)."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        return dict.fromkeys(sorted(unknown), "Not a store setting.")
    errors = {}
    if "opening_hours" in changes:
        errors |= _check_opening_hours(changes["opening_hours"])
    limits = {
        "pickup_hold_hours": (1, 24 * 14, "hours"),
        "accept_sla_minutes": (5, 24 * 60, "minutes"),
        "daily_ship_capacity": (0, 100_000, "orders"),
    }
    for name, (low, high, unit) in limits.items():
        value = changes.get(name)
        if value is not None and not (isinstance(value, int) and low <= value <= high):
            errors[name] = f"Between {low} and {high} {unit}."
    can_ship = changes.get("can_ship", location.can_ship)
    if can_ship and changes.get("daily_ship_capacity", location.daily_ship_capacity) == 0:
        errors["daily_ship_capacity"] = "A location that ships needs a capacity above 0."
    return errors


@transaction.atomic
def location_update_settings(*, location: Location, actor, **changes) -> Location:
    """A store's own settings, as its manager sets them: hours, hold and accept times, ship
    capacity, what it offers. SettingsInvalid (400, per field) and nothing saved on a bad one."""
    location = Location.objects.select_for_update().get(pk=location.pk)
    errors = location_settings_errors(location=location, changes=changes)
    if errors:
        raise SettingsInvalid(errors=errors)
    for name, value in changes.items():
        setattr(location, name, value)
    location.save(update_fields=[*changes, "updated_at"])
    return location

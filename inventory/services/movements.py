"""Movements of stock at one location: receipts, adjustments, write-offs, till sales,
restocked returns and cycle counts; and safety stock, a setting rather than a movement."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from inventory.errors import CountBelowReserved, InvalidMovement, StaleCount
from inventory.models import Sku, StockLevel, StockMovement
from inventory.services.count_requests import count_requests_settle, count_requests_to_settle
from inventory.services.levels import (
    MAX_ON_HAND,
    NO_ORIGIN,
    MovementOrigin,
    add_on_hand,
    change_level,
    check_positive,
    check_within_bounds,
    ensure_levels,
    ledger_row,
    pair_of,
    take_on_hand,
    too_much_on_hand,
)
from stores.models import Location

Reason = StockMovement.Reason


@transaction.atomic
def stock_receive(
    *, location: Location, sku: Sku, quantity: int, origin: MovementOrigin = NO_ORIGIN
) -> StockMovement:
    """Goods arrived at `location` (a delivery, a found item)."""
    check_positive(quantity)
    return add_on_hand(pair_of(location, sku), quantity, Reason.RECEIPT, origin=origin)


@transaction.atomic
def stock_adjust(
    *,
    location: Location,
    sku: Sku,
    delta: int,
    reason: str = Reason.ADJUSTMENT,
    origin: MovementOrigin = NO_ORIGIN,
) -> StockMovement:
    """Correct on hand by `delta` (signed). Cannot take away stock that is reserved."""
    if not isinstance(delta, int) or delta == 0:
        raise InvalidMovement("An adjustment must change the quantity.", field="quantity")
    check_within_bounds(delta)
    pair = pair_of(location, sku)
    if delta > 0:
        return add_on_hand(pair, delta, reason, origin=origin)
    return take_on_hand(pair, -delta, reason, origin=origin)


@transaction.atomic
def stock_write_off(
    *, location: Location, sku: Sku, quantity: int, origin: MovementOrigin = NO_ORIGIN
) -> StockMovement:
    """Stock lost, stolen or damaged beyond sale."""
    check_positive(quantity)
    return take_on_hand(pair_of(location, sku), quantity, Reason.WRITE_OFF, origin=origin)


@transaction.atomic
def stock_pos_sale(
    *, location: Location, sku: Sku, quantity: int, origin: MovementOrigin = NO_ORIGIN
) -> StockMovement:
    """A sale at the till: may use safety stock, never stock reserved for other orders."""
    check_positive(quantity)
    return take_on_hand(pair_of(location, sku), quantity, Reason.POS_SALE, origin=origin)


@transaction.atomic
def stock_restock_return(
    *, location: Location, sku: Sku, quantity: int, origin: MovementOrigin = NO_ORIGIN
) -> StockMovement:
    """A returned item put back on the shelf at the receiving location, sellable at once."""
    check_positive(quantity)
    return add_on_hand(pair_of(location, sku), quantity, Reason.RETURN_RESTOCK, origin=origin)


@transaction.atomic
def stock_cycle_count(
    *,
    location: Location,
    sku: Sku,
    counted: int,
    counted_at: datetime | None = None,
    origin: MovementOrigin = NO_ORIGIN,
) -> StockMovement:
    """Set on hand to what was counted at `counted_at`, then replay what moved since.

    A count taken while orders kept flowing therefore never wipes out their effect. A count
    older than one already recorded for this stock is refused (StaleCount): the newer stands.
    The count is of every unit there, held ones included; it settles the count requests
    opened before it: the units they held as not found leave the hold, as the count says.
    """
    if not isinstance(counted, int) or counted < 0:
        raise InvalidMovement("A counted quantity must be zero or more.", field="quantity")
    check_within_bounds(counted)
    now = timezone.now()
    counted_at = counted_at or now
    if counted_at > now:
        raise InvalidMovement("A count cannot be in the future.", field="counted_at")
    max_age = timedelta(days=settings.OMS_CYCLE_COUNT_MAX_AGE_DAYS)
    if counted_at < now - max_age:
        raise InvalidMovement(
            f"A count older than {max_age.days} days cannot be replayed.", field="counted_at"
        )
    pair = pair_of(location, sku)
    ensure_levels([pair])
    level = StockLevel.objects.select_for_update().get(location_id=pair[0], sku_id=pair[1])
    movements = StockMovement.objects.filter(location_id=pair[0], sku_id=pair[1])
    newer = (
        movements.filter(reason=Reason.CYCLE_COUNT, counted_at__gt=counted_at)
        .order_by("-counted_at")
        .values_list("counted_at", flat=True)
        .first()
    )
    if newer is not None:
        raise StaleCount(counted_at=counted_at.isoformat(), newer_count_at=newer.isoformat())
    # What physically moved since; another count's correction is not a movement of goods.
    since = (
        movements.filter(created_at__gt=counted_at)
        .exclude(reason=Reason.CYCLE_COUNT)
        .aggregate(total=Sum("delta_on_hand"))["total"]
        or 0
    )
    target = counted + since
    if target > MAX_ON_HAND:
        raise too_much_on_hand()
    requests = count_requests_to_settle(pair=pair, counted_at=counted_at)
    not_found = sum(request.quantity for request in requests)
    still_held = level.held - not_found
    if target < level.reserved + still_held:
        extra = {"held": still_held} if still_held else {}
        raise CountBelowReserved(
            counted=counted, on_hand_now=max(target, 0), reserved=level.reserved, **extra
        )
    delta = target - level.on_hand
    change_level(pair, on_hand=delta, held=-not_found)
    # The note says what was counted when; one given with the count follows it.
    note = f"counted {counted} at {counted_at.isoformat()}"
    if origin.note:
        note = f"{note}: {origin.note}"
    fields = {
        **origin.ledger_fields(),
        "note": note[: StockMovement._meta.get_field("note").max_length],
    }
    movement = ledger_row(
        pair, Reason.CYCLE_COUNT, on_hand=delta, held=-not_found, counted_at=counted_at, **fields
    )
    movement.save()
    count_requests_settle(requests=requests, count=movement)
    return movement


@transaction.atomic
def stock_set_safety_stock(
    *, location: Location, sku: Sku, safety_stock: int, actor=None, note: str = ""
) -> StockMovement | None:
    """Safety stock is a setting, not a quantity on the shelf: its ledger row moves nothing
    (every delta 0) and says who set it, from what to what, and why. None (no row) when it
    already was `safety_stock`."""
    if safety_stock < 0:
        raise InvalidMovement("Safety stock cannot be negative.", field="safety_stock")
    pair = pair_of(location, sku)
    ensure_levels([pair])
    level = StockLevel.objects.select_for_update().get(location_id=pair[0], sku_id=pair[1])
    before = level.safety_stock
    if before == safety_stock:
        return None
    StockLevel.objects.filter(pk=level.pk).update(safety_stock=safety_stock)
    text = f"safety stock {before} → {safety_stock}" + (f": {note}" if note else "")
    movement = ledger_row(
        pair,
        Reason.SAFETY_STOCK,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        note=text[: StockMovement._meta.get_field("note").max_length],
    )
    movement.save()
    return movement


# The reasons a person or an outside system records directly, with what `quantity` means.
RECORDABLE_REASONS = (
    Reason.RECEIPT,  # units received
    Reason.ADJUSTMENT,  # the signed change
    Reason.CYCLE_COUNT,  # the count
    Reason.POS_SALE,  # units sold
    Reason.WRITE_OFF,  # units written off
)


def stock_movement_record(
    *,
    location: Location,
    sku: Sku,
    reason: str,
    quantity: int,
    origin: MovementOrigin = NO_ORIGIN,
    counted_at: datetime | None = None,
) -> StockMovement:
    """One movement of a RECORDABLE_REASONS reason, through the service for that reason."""
    at = {"location": location, "sku": sku, "origin": origin}
    if reason == Reason.RECEIPT:
        return stock_receive(quantity=quantity, **at)
    if reason == Reason.ADJUSTMENT:
        return stock_adjust(delta=quantity, **at)
    if reason == Reason.CYCLE_COUNT:
        return stock_cycle_count(counted=quantity, counted_at=counted_at, **at)
    if reason == Reason.POS_SALE:
        return stock_pos_sale(quantity=quantity, **at)
    if reason == Reason.WRITE_OFF:
        return stock_write_off(quantity=quantity, **at)
    raise ValueError(f"reason {reason!r} cannot be recorded directly")

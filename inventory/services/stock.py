"""Every change of stock. The only writers of StockLevel, StockMovement and Reservation.

Stock arithmetic is one conditional UPDATE per (location, sku) whose row count is checked;
rows are touched in (location id, sku id) order so concurrent requests never deadlock. A
ship order then locks its locations' rows (id order) to claim their daily ship capacity.
Rows of the ledger and reservations are written before the stock rows are locked, so a
hot SKU's row stays locked only from its UPDATE to the commit.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from inventory.errors import (
    CountBelowReserved,
    InsufficientStock,
    InvalidMovement,
    ShipCapacityExhausted,
    StaleCount,
    StockInvariantBroken,
)
from inventory.models import Reservation, ShipDay, Sku, StockLevel, StockMovement, Transfer
from inventory.sourcing import USES_SHIP_CAPACITY
from stores.models import Location

Reason = StockMovement.Reason
Pair = tuple[int, int]  # (location id, sku id)

# One movement's quantity: more than any delivery, sale or count, far from the column limit.
MAX_MOVEMENT_QUANTITY = 1_000_000
# Quantities are PostgreSQL integers: on hand past this would fail as a database error.
MAX_ON_HAND = 2**31 - 1


@dataclass(frozen=True)
class StockRequest:
    """One line of demand to hold at one location."""

    location_id: int
    sku_id: int
    quantity: int
    reference: str
    delivery_method: str = ""  # overrides the call's (units bound for a transfer, say)


# --- the primitives ---------------------------------------------------------------------


def _ensure_levels(pairs: Iterable[Pair]) -> None:
    """Create missing StockLevel rows (INSERT ... ON CONFLICT DO NOTHING), no locks held."""
    StockLevel.objects.bulk_create(
        [StockLevel(location_id=loc, sku_id=sku) for loc, sku in sorted(set(pairs))],
        ignore_conflicts=True,
    )


def _change_level(
    pair: Pair, *, on_hand: int = 0, reserved: int = 0, guard: Q | None = None
) -> bool:
    """One conditional UPDATE; False when the guard did not hold (or no row exists)."""
    location_id, sku_id = pair
    rows = StockLevel.objects.filter(location_id=location_id, sku_id=sku_id)
    if guard is not None:
        rows = rows.filter(guard)
    updated = rows.update(
        on_hand=F("on_hand") + on_hand, reserved=F("reserved") + reserved, updated_at=timezone.now()
    )
    return updated == 1


def _free_guard(quantity: int, *, allow_safety_stock: bool) -> Q:
    """on_hand - reserved [- safety_stock] >= quantity."""
    floor = F("reserved") + quantity
    if not allow_safety_stock:
        floor = floor + F("safety_stock")
    return Q(on_hand__gte=floor)


def _movement(
    pair: Pair, reason: str, *, on_hand: int = 0, reserved: int = 0, **fields
) -> StockMovement:
    location_id, sku_id = pair
    return StockMovement(
        location_id=location_id,
        sku_id=sku_id,
        reason=reason,
        delta_on_hand=on_hand,
        delta_reserved=reserved,
        **fields,
    )


def _available(pairs: Iterable[Pair], *, allow_safety_stock: bool) -> dict[Pair, int]:
    levels = StockLevel.objects.filter(
        Q(*[Q(location_id=loc, sku_id=sku) for loc, sku in pairs], _connector=Q.OR)
    ).values_list("location_id", "sku_id", "on_hand", "reserved", "safety_stock")
    result = {}
    for loc, sku, on_hand, reserved, safety in levels:
        free = on_hand - reserved - (0 if allow_safety_stock else safety)
        result[(loc, sku)] = max(0, free)
    return result


def _shortage_lines(
    requested: Mapping[Pair, int], *, allow_safety_stock: bool, short_only: bool = True
) -> list[dict]:
    available = _available(requested, allow_safety_stock=allow_safety_stock)
    skus = dict(Sku.objects.filter(pk__in={s for _, s in requested}).values_list("pk", "code"))
    locations = dict(
        Location.objects.filter(pk__in={loc for loc, _ in requested}).values_list("pk", "code")
    )
    return [
        {
            "sku": skus[sku],
            "location": locations[loc],
            "requested": qty,
            "available": available.get((loc, sku), 0),
        }
        for (loc, sku), qty in sorted(requested.items())
        if not short_only or available.get((loc, sku), 0) < qty
    ]


def _shortage(
    requested: Mapping[Pair, int], failed: Pair, *, allow_safety_stock: bool
) -> InsufficientStock:
    """The refusal after `failed`'s guarded UPDATE matched no row: every short line, read now.

    Units freed between that UPDATE and this read (a release committed in between) make
    the read look sufficient; the line that failed is still reported, as it reads now.
    """
    lines = _shortage_lines(requested, allow_safety_stock=allow_safety_stock) or _shortage_lines(
        {failed: requested[failed]}, allow_safety_stock=allow_safety_stock, short_only=False
    )
    return InsufficientStock(lines=lines)


def _single(location: Location, sku: Sku) -> Pair:
    return (location.pk, sku.pk)


def _positive(quantity: int, what: str = "quantity") -> None:
    if not isinstance(quantity, int) or quantity <= 0:
        raise InvalidMovement(f"{what} must be a positive whole number.", field="quantity")
    _within_bounds(quantity)


def _within_bounds(quantity: int) -> None:
    if abs(quantity) > MAX_MOVEMENT_QUANTITY:
        raise InvalidMovement(
            f"A movement cannot be more than {MAX_MOVEMENT_QUANTITY:,} units.", field="quantity"
        )


def _too_much_on_hand() -> InvalidMovement:
    return InvalidMovement(
        f"On hand would go past {MAX_ON_HAND:,} units; the quantity cannot be right.",
        field="quantity",
    )


# --- reservations ------------------------------------------------------------------------


@transaction.atomic
def stock_reserve(
    *,
    requests: Sequence[StockRequest],
    demand: str,
    delivery_method: str = "",
    allow_safety_stock: bool = False,
    actor: AbstractBaseUser | None = None,
) -> list[Reservation]:
    """Hold every request or none. Raises InsufficientStock listing every short line, or
    ShipCapacityExhausted when a ship order would go past a location's capacity today.

    Online channels may only take available-to-promise (on hand - reserved - safety
    stock); a store sale (`allow_safety_stock`) may dig into safety stock.
    """
    if not requests:
        return []
    for request in requests:
        _positive(request.quantity)
    totals: dict[Pair, int] = defaultdict(int)
    shipping: dict[Pair, int] = defaultdict(int)
    for request in requests:
        totals[(request.location_id, request.sku_id)] += request.quantity
        if (request.delivery_method or delivery_method) in USES_SHIP_CAPACITY:
            shipping[(request.location_id, request.sku_id)] += request.quantity

    new_ship_days = _ship_days_to_take(demand=demand, location_ids={loc for loc, _ in shipping})
    reservations = Reservation.objects.bulk_create(
        [
            Reservation(
                reference=r.reference,
                demand=demand,
                delivery_method=r.delivery_method or delivery_method,
                location_id=r.location_id,
                sku_id=r.sku_id,
                quantity=r.quantity,
            )
            for r in requests
        ]
    )
    StockMovement.objects.bulk_create(
        [
            _movement(pair, Reason.RESERVE, reserved=qty, reference=demand, actor=actor)
            for pair, qty in sorted(totals.items())
        ]
    )
    ordered = sorted(totals.items())
    for index, (pair, qty) in enumerate(ordered):
        if not _change_level(
            pair, reserved=qty, guard=_free_guard(qty, allow_safety_stock=allow_safety_stock)
        ):
            # Report every short line, not only the first: the rest are read, not locked.
            raise _shortage(dict(ordered[index:]), pair, allow_safety_stock=allow_safety_stock)
    if new_ship_days:
        _claim_ship_days(location_ids=new_ship_days, requested=shipping)
    return reservations


def _ship_day(when: datetime | None = None) -> date:
    """The day a ship order counts on: its reservation's date in the server's TIME_ZONE.

    Not each location's own timezone: every demo location is in the server's zone.
    """
    return timezone.localtime(when).date() if when else timezone.localdate()


def _ship_days_to_take(*, demand: str, location_ids: set[int]) -> list[int]:
    """The locations where `demand` needs a ship slot today: those it does not ship from
    yet. Their day rows are made here if missing, before any stock row is locked."""
    if not location_ids:
        return []
    day = _ship_day()
    start = timezone.make_aware(datetime.combine(day, time.min))
    already = set(
        Reservation.objects.filter(
            demand=demand,
            location_id__in=location_ids,
            delivery_method__in=USES_SHIP_CAPACITY,
            created_at__gte=start,
        )
        .exclude(status=Reservation.Status.RELEASED)
        .values_list("location_id", flat=True)
    )
    new = sorted(location_ids - already)
    ShipDay.objects.bulk_create(
        [ShipDay(location_id=loc, day=day) for loc in new], ignore_conflicts=True
    )
    return new


_TAKE_SLOT = f"""
    UPDATE {ShipDay._meta.db_table} SET orders = orders + 1
    WHERE location_id = %s AND day = %s
      AND orders < (SELECT daily_ship_capacity FROM {Location._meta.db_table} WHERE id = %s)
"""  # noqa: S608 - table names and placeholders; every value is a parameter


def _claim_ship_days(*, location_ids: list[int], requested: Mapping[Pair, int]) -> None:
    """One more ship order today at each location, or ShipCapacityExhausted.

    One conditional UPDATE of the location's day row each, in location order and after the
    stock rows, as every reserve does: two checkouts for the last slot queue on that row,
    and the second finds it taken once the first has committed. A hot SKU's row stays
    locked until the commit that follows, so nothing else runs here.
    """
    day = connection.ops.adapt_datefield_value(_ship_day())
    full = []
    with connection.cursor() as cursor:
        for location_id in location_ids:
            cursor.execute(_TAKE_SLOT, [location_id, day, location_id])
            if cursor.rowcount != 1:
                full.append(location_id)
    if not full:
        return
    locations = {
        pk: (code, capacity)
        for pk, code, capacity in Location.objects.filter(pk__in=full).values_list(
            "pk", "code", "daily_ship_capacity"
        )
    }
    skus = dict(
        Sku.objects.filter(pk__in={s for loc, s in requested if loc in locations}).values_list(
            "pk", "code"
        )
    )
    raise ShipCapacityExhausted(
        f"No ship capacity left today at {', '.join(code for code, _ in locations.values())}.",
        locations=[
            {"location": code, "daily_ship_capacity": capacity}
            for code, capacity in locations.values()
        ],
        # The stock is there, but none of it can leave these locations today.
        lines=[
            {"sku": skus[sku], "location": locations[loc][0], "requested": qty, "available": 0}
            for (loc, sku), qty in sorted(requested.items())
            if loc in locations
        ],
    )


def _free_ship_days(released: list[Reservation]) -> None:
    """Give back the ship slot of each order that no longer ships from a location on the
    day it took it there: every one of its ship reservations there that day is released."""
    taken = sorted(
        {
            (r.location_id, _ship_day(r.created_at), r.demand)
            for r in released
            if r.status == Reservation.Status.RELEASED and r.delivery_method in USES_SHIP_CAPACITY
        }
    )
    for location_id, day, demand in taken:
        start = timezone.make_aware(datetime.combine(day, time.min))
        still = (
            Reservation.objects.filter(
                demand=demand,
                location_id=location_id,
                delivery_method__in=USES_SHIP_CAPACITY,
                created_at__gte=start,
                created_at__lt=start + timedelta(days=1),
            )
            .exclude(status=Reservation.Status.RELEASED)
            .exists()
        )
        if not still:
            ShipDay.objects.filter(location_id=location_id, day=day, orders__gt=0).update(
                orders=F("orders") - 1
            )


def _lock_active(reservations: Iterable[Reservation | int]) -> list[Reservation]:
    ids = [r if isinstance(r, int) else r.pk for r in reservations]
    return list(
        Reservation.objects.select_for_update()
        .filter(pk__in=ids, status=Reservation.Status.ACTIVE)
        .order_by("pk")
    )


def _settle(
    locked: list[Reservation],
    amounts: dict[int, int],
    *,
    reason: str,
    actor,
    reference: str,
    note: str,
) -> None:
    """Ledger rows and stock UPDATEs for reservations that end: a release gives the units
    back to the shelf; any other reason takes them out of the building too.

    The UPDATEs come first when units leave, so a cycle count that locks the row after them
    finds their ledger rows committed and never counts them twice (as `_add` and `_take`).
    """
    leaves = reason != Reason.RELEASE
    totals: dict[Pair, int] = defaultdict(int)
    for reservation in locked:
        totals[(reservation.location_id, reservation.sku_id)] += amounts[reservation.pk]
    movements = [
        _movement(
            pair,
            reason,
            on_hand=-qty if leaves else 0,
            reserved=-qty,
            reference=reference,
            note=note,
            actor=actor,
        )
        for pair, qty in sorted(totals.items())
    ]
    if not leaves:  # only `reserved` moves, which a count does not replay: rows first
        StockMovement.objects.bulk_create(movements)
    for pair, qty in sorted(totals.items()):
        guard = Q(reserved__gte=qty, on_hand__gte=qty) if leaves else Q(reserved__gte=qty)
        if not _change_level(pair, on_hand=-qty if leaves else 0, reserved=-qty, guard=guard):
            raise StockInvariantBroken(f"Less reserved than reservations hold at {pair}.")
    if leaves:
        StockMovement.objects.bulk_create(movements)


@transaction.atomic
def stock_release(
    *,
    reservations: Iterable[Reservation | int],
    quantities: Mapping[int, int] | None = None,
    actor: AbstractBaseUser | None = None,
    reference: str = "",
    note: str = "",
) -> list[Reservation]:
    """Give held stock back to the shelf. Idempotent: released ones are skipped.

    `quantities` (reservation id -> units) releases part of a reservation; the rest stays held.
    """
    locked = _lock_active(reservations)
    amounts = {}
    for reservation in locked:
        wanted = reservation.quantity if quantities is None else quantities.get(reservation.pk, 0)
        amounts[reservation.pk] = min(max(wanted, 0), reservation.quantity)
    locked = [r for r in locked if amounts[r.pk] > 0]
    if not locked:
        return []
    now = timezone.now()  # bulk_update does not apply auto_now
    for reservation in locked:
        reservation.updated_at = now
        if amounts[reservation.pk] == reservation.quantity:
            reservation.status = Reservation.Status.RELEASED
        else:
            reservation.quantity -= amounts[reservation.pk]
    Reservation.objects.bulk_update(locked, ["status", "quantity", "updated_at"])
    _settle(
        locked,
        amounts,
        reason=Reason.RELEASE,
        actor=actor,
        reference=reference or locked[0].demand,
        note=note,
    )
    _free_ship_days(locked)
    return locked


def _end_whole(
    reservations: Iterable[Reservation | int], *, reason: str, actor, reference: str, note: str
) -> list[Reservation]:
    """Mark every still-active reservation consumed; its units leave with `reason`."""
    locked = _lock_active(reservations)
    if not locked:
        return []
    now = timezone.now()  # bulk_update does not apply auto_now
    for reservation in locked:
        reservation.status = Reservation.Status.CONSUMED
        reservation.updated_at = now
    Reservation.objects.bulk_update(locked, ["status", "updated_at"])
    _settle(
        locked,
        {r.pk: r.quantity for r in locked},
        reason=reason,
        actor=actor,
        reference=reference or locked[0].demand,
        note=note,
    )
    return locked


@transaction.atomic
def stock_consume(
    *,
    reservations: Iterable[Reservation | int],
    actor: AbstractBaseUser | None = None,
    reference: str = "",
    note: str = "",
) -> list[Reservation]:
    """Stock leaves the building (shipped or handed over): on hand and reserved both drop.

    Idempotent: reservations already consumed or released are skipped.
    """
    return _end_whole(
        reservations, reason=Reason.FULFIL, actor=actor, reference=reference, note=note
    )


# --- movements at one location --------------------------------------------------------


def _add(pair: Pair, quantity: int, reason: str, **fields) -> StockMovement:
    # The UPDATE first, the ledger row after it: a cycle count that takes the level's lock
    # in between would miss the not yet committed movement and count it twice.
    _ensure_levels([pair])
    if not _change_level(pair, on_hand=quantity, guard=Q(on_hand__lte=MAX_ON_HAND - quantity)):
        raise _too_much_on_hand()
    movement = _movement(pair, reason, on_hand=quantity, **fields)
    movement.save()
    return movement


def _take(
    pair: Pair, quantity: int, reason: str, *, allow_safety_stock: bool = True, **fields
) -> StockMovement:
    if not _change_level(
        pair, on_hand=-quantity, guard=_free_guard(quantity, allow_safety_stock=allow_safety_stock)
    ):
        raise _shortage({pair: quantity}, pair, allow_safety_stock=allow_safety_stock)
    movement = _movement(pair, reason, on_hand=-quantity, **fields)
    movement.save()
    return movement


@transaction.atomic
def stock_receive(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    actor=None,
    reference: str = "",
    note: str = "",
    source: str = "",
    external_id: str = "",
) -> StockMovement:
    """Goods arrived at `location` (a delivery, a found item)."""
    _positive(quantity)
    return _add(
        _single(location, sku),
        quantity,
        Reason.RECEIPT,
        actor=actor,
        reference=reference,
        note=note,
        source=source,
        external_id=external_id,
    )


@transaction.atomic
def stock_adjust(
    *,
    location: Location,
    sku: Sku,
    delta: int,
    reason: str = Reason.ADJUSTMENT,
    actor=None,
    reference: str = "",
    note: str = "",
    source: str = "",
    external_id: str = "",
) -> StockMovement:
    """Correct on hand by `delta` (signed). Cannot take away stock that is reserved."""
    if not isinstance(delta, int) or delta == 0:
        raise InvalidMovement("An adjustment must change the quantity.", field="quantity")
    _within_bounds(delta)
    fields = {
        "actor": actor,
        "reference": reference,
        "note": note,
        "source": source,
        "external_id": external_id,
    }
    pair = _single(location, sku)
    if delta > 0:
        return _add(pair, delta, reason, **fields)
    return _take(pair, -delta, reason, **fields)


@transaction.atomic
def stock_write_off(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    actor=None,
    reference: str = "",
    note: str = "",
    source: str = "",
    external_id: str = "",
) -> StockMovement:
    """Stock lost, stolen or damaged beyond sale."""
    _positive(quantity)
    return _take(
        _single(location, sku),
        quantity,
        Reason.WRITE_OFF,
        actor=actor,
        reference=reference,
        note=note,
        source=source,
        external_id=external_id,
    )


@transaction.atomic
def stock_pos_sale(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    actor=None,
    reference: str = "",
    source: str = "",
    external_id: str = "",
) -> StockMovement:
    """A sale at the till: may use safety stock, never stock reserved for other orders."""
    _positive(quantity)
    return _take(
        _single(location, sku),
        quantity,
        Reason.POS_SALE,
        actor=actor,
        reference=reference,
        source=source,
        external_id=external_id,
    )


@transaction.atomic
def stock_restock_return(
    *, location: Location, sku: Sku, quantity: int, actor=None, reference: str = ""
) -> StockMovement:
    """A returned item put back on the shelf at the receiving location, sellable at once."""
    _positive(quantity)
    return _add(
        _single(location, sku), quantity, Reason.RETURN_RESTOCK, actor=actor, reference=reference
    )


@transaction.atomic
def stock_cycle_count(
    *,
    location: Location,
    sku: Sku,
    counted: int,
    counted_at: datetime | None = None,
    actor=None,
    reference: str = "",
    source: str = "",
    external_id: str = "",
) -> StockMovement:
    """Set on hand to what was counted at `counted_at`, then replay what moved since.

    A count taken while orders kept flowing therefore never wipes out their effect. A count
    older than one already recorded for this stock is refused (StaleCount): the newer stands.
    """
    if not isinstance(counted, int) or counted < 0:
        raise InvalidMovement("A counted quantity must be zero or more.", field="quantity")
    _within_bounds(counted)
    now = timezone.now()
    counted_at = counted_at or now
    if counted_at > now:
        raise InvalidMovement("A count cannot be in the future.", field="counted_at")
    max_age = timedelta(days=settings.OMS_CYCLE_COUNT_MAX_AGE_DAYS)
    if counted_at < now - max_age:
        raise InvalidMovement(
            f"A count older than {max_age.days} days cannot be replayed.", field="counted_at"
        )
    pair = _single(location, sku)
    _ensure_levels([pair])
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
        raise _too_much_on_hand()
    if target < level.reserved:
        raise CountBelowReserved(
            counted=counted, on_hand_now=max(target, 0), reserved=level.reserved
        )
    delta = target - level.on_hand
    _change_level(pair, on_hand=delta)
    movement = _movement(
        pair,
        Reason.CYCLE_COUNT,
        on_hand=delta,
        actor=actor,
        reference=reference,
        note=f"counted {counted} at {counted_at.isoformat()}",
        source=source,
        external_id=external_id,
        counted_at=counted_at,
    )
    movement.save()
    return movement


@transaction.atomic
def stock_set_safety_stock(*, location: Location, sku: Sku, safety_stock: int) -> None:
    """Safety stock is a setting, not a quantity on the shelf: no ledger row."""
    if safety_stock < 0:
        raise InvalidMovement("Safety stock cannot be negative.", field="safety_stock")
    pair = _single(location, sku)
    _ensure_levels([pair])
    StockLevel.objects.filter(location_id=pair[0], sku_id=pair[1]).update(safety_stock=safety_stock)


# --- transfers ---------------------------------------------------------------------------


@transaction.atomic
def stock_transfer(
    *,
    from_location: Location,
    to_location: Location,
    sku: Sku,
    quantity: int,
    actor=None,
    reference: str = "",
) -> Transfer:
    """Send stock to another location: out now, in transit until `stock_transfer_receive`."""
    _positive(quantity)
    if from_location.pk == to_location.pk:
        raise InvalidMovement("A transfer needs two different locations.", field="to_location")
    transfer = Transfer.objects.create(
        from_location=from_location,
        to_location=to_location,
        sku=sku,
        quantity=quantity,
        reference=reference,
    )
    _take(
        _single(from_location, sku),
        quantity,
        Reason.TRANSFER_OUT,
        actor=actor,
        reference=f"transfer:{transfer.pk}",
        note=reference,
    )
    return transfer


@transaction.atomic
def stock_transfer_reserved(
    *, reservation: Reservation | int, to_location: Location, actor=None
) -> Transfer | None:
    """Send the units a reservation holds to another location, for the same demand line
    (ship-to-store): they leave the source now and are in transit until received.

    Idempotent: None when the reservation is no longer active.
    """
    locked = _lock_active([reservation])
    if not locked:
        return None
    [held] = locked
    if held.location_id == to_location.pk:
        raise InvalidMovement("A transfer needs two different locations.", field="to_location")
    transfer = Transfer.objects.create(
        from_location_id=held.location_id,
        to_location=to_location,
        sku_id=held.sku_id,
        quantity=held.quantity,
        reference=held.reference,
    )
    _end_whole(
        locked,
        reason=Reason.TRANSFER_OUT,
        actor=actor,
        reference=f"transfer:{transfer.pk}",
        note=held.reference,
    )
    return transfer


@transaction.atomic
def stock_transfer_receive(*, transfer: Transfer, actor=None) -> Transfer:
    """The transfer arrived: its stock is on hand at the destination. Idempotent."""
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status == Transfer.Status.RECEIVED:
        return transfer
    _add(
        (transfer.to_location_id, transfer.sku_id),
        transfer.quantity,
        Reason.TRANSFER_IN,
        actor=actor,
        reference=f"transfer:{transfer.pk}",
        note=transfer.reference,
    )
    transfer.status = Transfer.Status.RECEIVED
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_at", "updated_at"])
    return transfer

"""What every writer of stock shares: stock rows, ledger rows and the bounds of a quantity.

Stock arithmetic is one conditional UPDATE per (location, sku) whose row count is checked
(a reserve takes all of its pairs in one such statement: `take_free`); rows are touched in
(location id, sku id) order so concurrent requests never deadlock.
"""

import dataclasses
from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from inventory.errors import InsufficientStock, InvalidMovement
from inventory.models import Sku, StockLevel, StockMovement
from stores.models import Location

Pair = tuple[int, int]  # (location id, sku id)

# One movement's quantity: more than any delivery, sale or count, far from the column limit.
MAX_MOVEMENT_QUANTITY = 1_000_000
# Quantities are PostgreSQL integers: on hand past this would fail as a database error.
MAX_ON_HAND = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class MovementOrigin:
    """Who recorded a movement and where it came from, as its ledger row keeps it."""

    actor: AbstractBaseUser | None = None
    reference: str = ""
    note: str = ""
    source: str = ""  # the sending system (a POS, a WMS)...
    external_id: str = ""  # ...and its id there: a resend of (source, external_id) is a no-op

    def ledger_fields(self) -> dict:
        # Not dataclasses.asdict: that would deep-copy the actor.
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


NO_ORIGIN = MovementOrigin()


def pair_of(location: Location, sku: Sku) -> Pair:
    return (location.pk, sku.pk)


def ensure_levels(pairs: Iterable[Pair]) -> None:
    """Create missing StockLevel rows (INSERT ... ON CONFLICT DO NOTHING), no locks held."""
    StockLevel.objects.bulk_create(
        [StockLevel(location_id=loc, sku_id=sku) for loc, sku in sorted(set(pairs))],
        ignore_conflicts=True,
    )


def change_level(
    pair: Pair, *, on_hand: int = 0, reserved: int = 0, held: int = 0, guard: Q | None = None
) -> bool:
    """One conditional UPDATE; False when the guard did not hold (or no row exists)."""
    location_id, sku_id = pair
    rows = StockLevel.objects.filter(location_id=location_id, sku_id=sku_id)
    if guard is not None:
        rows = rows.filter(guard)
    changes = {"on_hand": F("on_hand") + on_hand, "reserved": F("reserved") + reserved}
    if held:  # the hot reserve UPDATE stays as it was
        changes["held"] = F("held") + held
    updated = rows.update(**changes, updated_at=timezone.now())
    return updated == 1


# Every pair of a demand in one statement: the sub-select locks the rows whose free stock
# covers the request in (location, sku) order, as one UPDATE per pair in that order would,
# then they change. A row locked by another transaction is waited for and its guard checked
# again on the version that transaction committed (READ COMMITTED), so a pair short by then
# is left out of what the statement returns, unlocked and unchanged.
_TAKE_FREE = """UPDATE {table} AS s
    SET on_hand = s.on_hand + locked.on_hand, reserved = s.reserved + locked.reserved,
        updated_at = %(now)s
    FROM (
        SELECT level.id, w.on_hand, w.reserved
        FROM {table} AS level
        JOIN unnest(%(locations)s::integer[], %(skus)s::integer[], %(on_hand)s::integer[],
                    %(reserved)s::integer[], %(need)s::integer[])
            AS w (location_id, sku_id, on_hand, reserved, need)
            ON level.location_id = w.location_id AND level.sku_id = w.sku_id
        WHERE level.on_hand >= level.reserved + level.held + w.need {safety}
        ORDER BY level.location_id, level.sku_id
        FOR UPDATE OF level
    ) AS locked
    WHERE s.id = locked.id
    RETURNING s.location_id, s.sku_id"""


def _take_free_sql(*, allow_safety_stock: bool) -> str:
    return _TAKE_FREE.format(
        table=connection.ops.quote_name(StockLevel._meta.db_table),
        safety="" if allow_safety_stock else "+ level.safety_stock",
    )


def take_free(
    amounts: Mapping[Pair, int], *, from_shelf: bool, allow_safety_stock: bool
) -> list[Pair]:
    """Every pair's `amounts` out of its free stock (see free_guard), in one statement:
    reserved (`from_shelf=False`) or gone from on hand (`from_shelf`). Returns the pairs
    whose guard did not hold, in (location, sku) order; the others stay changed and locked.
    """
    ordered = sorted(amounts.items())
    if connection.vendor != "postgresql":
        # The embedded default (SQLite) has no row locks to order: one UPDATE per pair.
        return [
            pair
            for pair, qty in ordered
            if not change_level(
                pair,
                on_hand=-qty if from_shelf else 0,
                reserved=0 if from_shelf else qty,
                guard=free_guard(qty, allow_safety_stock=allow_safety_stock),
            )
        ]
    quantities = [qty for _, qty in ordered]
    params = {
        "locations": [loc for (loc, _), _ in ordered],
        "skus": [sku for (_, sku), _ in ordered],
        "on_hand": [-qty for qty in quantities] if from_shelf else [0] * len(ordered),
        "reserved": [0] * len(ordered) if from_shelf else quantities,
        "need": quantities,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_take_free_sql(allow_safety_stock=allow_safety_stock), params)
        changed = set(cursor.fetchall())
    return [pair for pair, _ in ordered if pair not in changed]


def free_guard(quantity: int, *, allow_safety_stock: bool) -> Q:
    """on_hand - reserved - held [- safety_stock] >= quantity: held units are never free."""
    floor = F("reserved") + F("held") + quantity
    if not allow_safety_stock:
        floor = floor + F("safety_stock")
    return Q(on_hand__gte=floor)


def ledger_row(
    pair: Pair, reason: str, *, on_hand: int = 0, reserved: int = 0, held: int = 0, **fields
) -> StockMovement:
    """An unsaved StockMovement of `pair`."""
    location_id, sku_id = pair
    return StockMovement(
        location_id=location_id,
        sku_id=sku_id,
        reason=reason,
        delta_on_hand=on_hand,
        delta_reserved=reserved,
        delta_held=held,
        **fields,
    )


def add_on_hand(pair: Pair, quantity: int, reason: str, *, origin: MovementOrigin) -> StockMovement:
    """Units in: on hand grows by `quantity`, up to MAX_ON_HAND."""
    # The UPDATE first, the ledger row after it: a cycle count that takes the level's lock
    # in between would miss the not yet committed movement and count it twice.
    ensure_levels([pair])
    if not change_level(pair, on_hand=quantity, guard=Q(on_hand__lte=MAX_ON_HAND - quantity)):
        raise too_much_on_hand()
    movement = ledger_row(pair, reason, on_hand=quantity, **origin.ledger_fields())
    movement.save()
    return movement


def take_on_hand(
    pair: Pair,
    quantity: int,
    reason: str,
    *,
    origin: MovementOrigin,
    allow_safety_stock: bool = True,
) -> StockMovement:
    """Units out of what is not reserved, or InsufficientStock."""
    if not change_level(
        pair, on_hand=-quantity, guard=free_guard(quantity, allow_safety_stock=allow_safety_stock)
    ):
        raise shortage({pair: quantity}, pair, allow_safety_stock=allow_safety_stock)
    movement = ledger_row(pair, reason, on_hand=-quantity, **origin.ledger_fields())
    movement.save()
    return movement


def _available(pairs: Iterable[Pair], *, allow_safety_stock: bool) -> dict[Pair, int]:
    levels = StockLevel.objects.filter(
        Q(*[Q(location_id=loc, sku_id=sku) for loc, sku in pairs], _connector=Q.OR)
    ).values_list("location_id", "sku_id", "on_hand", "reserved", "held", "safety_stock")
    result = {}
    for loc, sku, on_hand, reserved, held, safety in levels:
        free = on_hand - reserved - held - (0 if allow_safety_stock else safety)
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


def shortage(
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


def check_positive(quantity: int, what: str = "quantity") -> None:
    if not isinstance(quantity, int) or quantity <= 0:
        raise InvalidMovement(f"{what} must be a positive whole number.", field="quantity")
    check_within_bounds(quantity)


def check_within_bounds(quantity: int) -> None:
    if abs(quantity) > MAX_MOVEMENT_QUANTITY:
        raise InvalidMovement(
            f"A movement cannot be more than {MAX_MOVEMENT_QUANTITY:,} units.", field="quantity"
        )


def too_much_on_hand() -> InvalidMovement:
    return InvalidMovement(
        f"On hand would go past {MAX_ON_HAND:,} units; the quantity cannot be right.",
        field="quantity",
    )

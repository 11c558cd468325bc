"""Stock held for a line of demand: reserve, release, consume.

Rows of the ledger and reservations are written before the stock rows are locked, so a
hot SKU's row stays locked only from its UPDATE to the commit. A ship order then claims
its locations' daily ship capacity (`ship_capacity`).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from common.bulk import Rows, insert_rows
from inventory.errors import StockInvariantBroken
from inventory.models import Reservation, StockMovement
from inventory.services.levels import (
    Pair,
    change_level,
    check_positive,
    ledger_row,
    shortage,
    take_free,
)
from inventory.services.ship_capacity import ship_days_claim, ship_days_free, ship_days_to_take
from inventory.sourcing import USES_SHIP_CAPACITY

Reason = StockMovement.Reason


@dataclass(frozen=True)
class StockRequest:
    """One line of demand to hold at one location."""

    location_id: int
    sku_id: int
    quantity: int
    reference: str
    delivery_method: str = ""  # overrides the call's (units bound for a transfer, say)


def stock_reserve(
    *,
    requests: Sequence[StockRequest],
    demand: str,
    delivery_method: str = "",
    allow_safety_stock: bool = False,
    actor: AbstractBaseUser | None = None,
    new_demand: bool = False,
    handed_over: bool = False,
    savepoint: bool = True,
    with_rows: Sequence[Sequence[Model] | Rows] = (),
) -> list[Reservation]:
    """Hold every request or none. Raises InsufficientStock listing every short line, or
    ShipCapacityExhausted when a ship order would go past a location's capacity today.

    Online channels may only take available-to-promise (on hand - reserved - safety
    stock); a store sale (`allow_safety_stock`) may dig into safety stock.
    `new_demand`: nothing is held for `demand` yet (a checkout), so nothing is looked up.
    `handed_over`: the units leave at once (a sale at the till): the reservations are
    written consumed and on hand drops, as a reserve and a consume would leave them.
    `savepoint=False` for a caller whose whole transaction ends on a refusal (checkout).
    `with_rows`: the caller's own new rows (see common.bulk), written in the same statement
    as the reservations, before any stock row is locked.
    """
    if not requests:
        insert_rows(*with_rows)
        return []
    with transaction.atomic(savepoint=savepoint):
        return _reserve(
            requests=requests,
            demand=demand,
            delivery_method=delivery_method,
            allow_safety_stock=allow_safety_stock,
            actor=actor,
            new_demand=new_demand,
            handed_over=handed_over,
            with_rows=with_rows,
        )


def _reserve(
    *,
    requests: Sequence[StockRequest],
    demand: str,
    delivery_method: str,
    allow_safety_stock: bool,
    actor: AbstractBaseUser | None,
    new_demand: bool,
    handed_over: bool,
    with_rows: Sequence[Sequence[Model] | Rows],
) -> list[Reservation]:
    for request in requests:
        check_positive(request.quantity)
    totals: dict[Pair, int] = defaultdict(int)
    shipping: dict[Pair, int] = defaultdict(int)
    for request in requests:
        totals[(request.location_id, request.sku_id)] += request.quantity
        if (request.delivery_method or delivery_method) in USES_SHIP_CAPACITY:
            shipping[(request.location_id, request.sku_id)] += request.quantity

    new_ship_days, day_rows = ship_days_to_take(
        demand=demand, location_ids={loc for loc, _ in shipping}, new_demand=new_demand
    )
    reservations = [
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
    ordered = sorted(totals.items())
    held = [
        ledger_row(pair, Reason.RESERVE, reserved=qty, reference=demand, actor=actor)
        for pair, qty in ordered
    ]
    if handed_over:
        for reservation in reservations:
            reservation.consume()
        # Units leave: the ledger rows follow the stock UPDATEs (see levels.add_on_hand).
        insert_rows(Rows(day_rows, skip_conflicts=True), reservations, *with_rows)
    else:
        # Every row first, in one statement; the stock rows are locked last.
        insert_rows(Rows(day_rows, skip_conflicts=True), reservations, held, *with_rows)
    short = take_free(totals, from_shelf=handed_over, allow_safety_stock=allow_safety_stock)
    if short:
        # Every short line is reported, as it reads now (the rest are held until rollback).
        missing = {pair: totals[pair] for pair in short}
        raise shortage(missing, short[0], allow_safety_stock=allow_safety_stock)
    if handed_over:
        StockMovement.objects.bulk_create(
            held
            + [
                ledger_row(
                    pair, Reason.FULFIL, on_hand=-qty, reserved=-qty, reference=demand, actor=actor
                )
                for pair, qty in ordered
            ]
        )
    if new_ship_days:
        ship_days_claim(location_ids=new_ship_days, requested=shipping)
    return reservations


def lock_active(reservations: Iterable[Reservation | int]) -> list[Reservation]:
    """The still-active ones among `reservations`, locked in id order."""
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
    finds their ledger rows committed and never counts them twice (as `add_on_hand` and
    `take_on_hand`).
    """
    leaves = reason != Reason.RELEASE
    totals: dict[Pair, int] = defaultdict(int)
    for reservation in locked:
        totals[(reservation.location_id, reservation.sku_id)] += amounts[reservation.pk]
    movements = [
        ledger_row(
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
        if not change_level(pair, on_hand=-qty if leaves else 0, reserved=-qty, guard=guard):
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
    locked = lock_active(reservations)
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
            reservation.release()
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
    ship_days_free(locked)
    return locked


def reservations_end(
    reservations: Iterable[Reservation | int], *, reason: str, actor, reference: str, note: str
) -> list[Reservation]:
    """Mark every still-active reservation consumed; its units leave with `reason`."""
    locked = lock_active(reservations)
    if not locked:
        return []
    now = timezone.now()  # bulk_update does not apply auto_now
    for reservation in locked:
        reservation.consume()
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
    return reservations_end(
        reservations, reason=Reason.FULFIL, actor=actor, reference=reference, note=note
    )

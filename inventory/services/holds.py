"""The hold: units on hand that nothing promises (routing, availability, reservations and
till sales all leave them alone) until someone decides what becomes of them.

Units come into the hold as returned goods awaiting inspection (`stock_hold_receive`),
damaged units (`stock_hold_damaged`, or a pick rejected as damaged) and units reported not
found (`stock_hold_not_found`, or a pick rejected as not found: a count request is opened
and the count settles it, see `stock_cycle_count`). They leave it by a disposition:
restocked or written off where they are (`stock_hold_release`), or sent elsewhere as a
transfer (`stock_hold_transfer`), arriving available when received.

A disposition is reversed (an inspection corrected) by `stock_hold_reverse`, which puts
back into the hold what a release with that disposition took out; the caller then releases
again with the right disposition. A transfer is not reversed: once received, the units are
available at the destination and are sent back as any stock is.

Every change is one conditional UPDATE whose row count is checked and one ledger row with
the caller's opaque `reference`. Units held as not found wait for their count: no
disposition takes them.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory.errors import InsufficientHeld, InvalidMovement, StockInvariantBroken
from inventory.models import (
    CountRequest,
    HoldDisposition,
    Reservation,
    Sku,
    StockLevel,
    StockMovement,
    Transfer,
)
from inventory.services.count_requests import not_found_held
from inventory.services.levels import (
    MAX_ON_HAND,
    Pair,
    change_level,
    check_positive,
    ensure_levels,
    free_guard,
    ledger_row,
    pair_of,
    shortage,
    too_much_on_hand,
)
from inventory.services.reservations import lock_active
from inventory.services.ship_capacity import ship_days_free
from inventory.services.transfers import transfer_ledger_reference
from stores.models import Location

Reason = StockMovement.Reason
# What a rejected pick puts into the hold, by what the store found.
HOLD_REASONS = (Reason.DAMAGED, Reason.NOT_FOUND)


def _record(pair: Pair, reason: str, *, reference: str, actor, note: str, **deltas: int):
    movement = ledger_row(pair, reason, reference=reference, actor=actor, note=note, **deltas)
    movement.save()
    return movement


def _disposition(value: str) -> HoldDisposition:
    try:
        return HoldDisposition(value)
    except ValueError:
        choices = ", ".join(HoldDisposition.values)
        raise InvalidMovement(
            f"Unknown disposition {value!r}; one of {choices}.", field="disposition"
        ) from None


def _take_held(pair: Pair, quantity: int, *, on_hand: int) -> None:
    """Units out of the hold (and out of on hand by `on_hand`), or InsufficientHeld.

    The level row is locked first, so the units held as not found are read after any
    concurrent report committed, and two dispositions of the same units queue here.
    """
    location_id, sku_id = pair
    locked = (
        StockLevel.objects.select_for_update()
        .filter(location_id=location_id, sku_id=sku_id)
        .values_list("held", flat=True)
    )
    held = next(iter(locked), 0)
    waiting = not_found_held(pair=pair)
    if held - waiting < quantity or not change_level(
        pair, on_hand=on_hand, held=-quantity, guard=Q(held__gte=quantity + waiting)
    ):
        raise InsufficientHeld(
            sku=Sku.objects.values_list("code", flat=True).get(pk=sku_id),
            location=Location.objects.values_list("code", flat=True).get(pk=location_id),
            requested=quantity,
            held=max(0, held - waiting),
        )


def _hold_available(pair: Pair, quantity: int) -> None:
    """Units not reserved (safety stock included: they are not sellable) into the hold."""
    if not change_level(pair, held=quantity, guard=free_guard(quantity, allow_safety_stock=True)):
        raise shortage({pair: quantity}, pair, allow_safety_stock=True)


def _arrive_held(pair, quantity: int) -> None:
    """`quantity` units come onto the shelf at `pair` straight into the hold (the level row is
    made when the location never stocked the SKU)."""
    ensure_levels([pair])
    guard = Q(on_hand__lte=MAX_ON_HAND - quantity)
    if not change_level(pair, on_hand=quantity, held=quantity, guard=guard):
        raise too_much_on_hand()


@transaction.atomic
def stock_hold_receive(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    reference: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> StockMovement:
    """Returned goods arrived at `location`: on hand there, held until inspected. Any
    location, whether it ever stocked `sku` or not."""
    check_positive(quantity)
    pair = pair_of(location, sku)
    _arrive_held(pair, quantity)
    return _record(
        pair,
        Reason.RETURN_RECEIVE,
        on_hand=quantity,
        held=quantity,
        reference=reference,
        actor=actor,
        note=note,
    )


@transaction.atomic
def stock_hold_release(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    disposition: str,
    reference: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> StockMovement:
    """Held units inspected: restocked (available at `location` at once, `return_restock`)
    or written off (`write_off`). 409 `insufficient_held` for more than is held there."""
    check_positive(quantity)
    disposition = _disposition(disposition)
    pair = pair_of(location, sku)
    leaves = disposition == HoldDisposition.WRITE_OFF
    _take_held(pair, quantity, on_hand=-quantity if leaves else 0)
    return _record(
        pair,
        Reason.WRITE_OFF if leaves else Reason.RETURN_RESTOCK,
        on_hand=-quantity if leaves else 0,
        held=-quantity,
        reference=reference,
        actor=actor,
        note=note,
    )


@transaction.atomic
def stock_hold_reverse(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    disposition: str,
    reference: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> StockMovement:
    """Undo a release with `disposition` (an inspection corrected): the units are held again.

    Restocked units come back out of what is available there (InsufficientStock, a 409,
    once they were sold or promised meanwhile); written-off units come back on hand.
    """
    check_positive(quantity)
    disposition = _disposition(disposition)
    pair = pair_of(location, sku)
    if disposition == HoldDisposition.RESTOCK:
        _hold_available(pair, quantity)
        on_hand = 0
    else:
        _arrive_held(pair, quantity)
        on_hand = quantity
    return _record(
        pair,
        Reason.HOLD_REVERSAL,
        on_hand=on_hand,
        held=quantity,
        reference=reference,
        actor=actor,
        note=note or f"{disposition.value} reversed",
    )


@transaction.atomic
def stock_hold_transfer(
    *,
    from_location: Location,
    to_location: Location,
    sku: Sku,
    quantity: int,
    reference: str,
    actor: AbstractBaseUser | None = None,
) -> Transfer:
    """Held units sent to another location (a warehouse, the vendor's returns desk): out of
    the hold and on hand here now, in transit until `stock_transfer_receive`, then
    available there."""
    check_positive(quantity)
    if from_location.pk == to_location.pk:
        raise InvalidMovement("A transfer needs two different locations.", field="to_location")
    transfer = Transfer.objects.create(
        from_location=from_location,
        to_location=to_location,
        sku=sku,
        quantity=quantity,
        reference=reference,
    )
    pair = pair_of(from_location, sku)
    _take_held(pair, quantity, on_hand=-quantity)
    _record(
        pair,
        Reason.TRANSFER_OUT,
        on_hand=-quantity,
        held=-quantity,
        reference=transfer_ledger_reference(transfer),
        actor=actor,
        note=reference,
    )
    return transfer


@transaction.atomic
def stock_hold_damaged(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    reference: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> StockMovement:
    """Units found damaged on the shelf: out of what can be promised, held until inspected.
    InsufficientStock (409) for more than is there unreserved."""
    check_positive(quantity)
    pair = pair_of(location, sku)
    _hold_available(pair, quantity)
    return _record(pair, Reason.DAMAGED, held=quantity, reference=reference, actor=actor, note=note)


@transaction.atomic
def stock_hold_not_found(
    *,
    location: Location,
    sku: Sku,
    quantity: int,
    reference: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> CountRequest:
    """Units reported not found on the shelf: held (never promised) and a count of the
    shelf requested; the count (`stock_cycle_count`) settles it. InsufficientStock (409)
    for more than is there unreserved."""
    check_positive(quantity)
    pair = pair_of(location, sku)
    request = CountRequest.objects.create(
        location=location, sku=sku, quantity=quantity, reference=reference, note=note
    )
    _hold_available(pair, quantity)
    _record(pair, Reason.NOT_FOUND, held=quantity, reference=reference, actor=actor, note=note)
    return request


@transaction.atomic
def stock_hold_reserved(
    *,
    reservations: Iterable[Reservation | int],
    reason: str,
    actor: AbstractBaseUser | None = None,
    reference: str = "",
    note: str = "",
) -> list[CountRequest]:
    """The units reservations hold were found damaged or not found when picked: the
    reservations are released, but the units go into the hold instead of back on the shelf.
    For `not_found`, a count is requested of each shelf; returns those requests.

    Idempotent: reservations no longer active are skipped.
    """
    if reason not in HOLD_REASONS:
        raise ValueError(f"reason {reason!r} does not put units into the hold")
    locked = lock_active(reservations)
    if not locked:
        return []
    now = timezone.now()  # bulk_update does not apply auto_now
    totals: dict[Pair, int] = defaultdict(int)
    for reservation in locked:
        reservation.release()
        reservation.updated_at = now
        totals[(reservation.location_id, reservation.sku_id)] += reservation.quantity
    Reservation.objects.bulk_update(locked, ["status", "updated_at"])
    reference = reference or locked[0].demand
    requests = []
    if reason == Reason.NOT_FOUND:
        requests = CountRequest.objects.bulk_create(
            CountRequest(location_id=loc, sku_id=sku, quantity=qty, reference=reference, note=note)
            for (loc, sku), qty in sorted(totals.items())
        )
    # On hand does not change, which a count does not replay: the rows first (as a release).
    StockMovement.objects.bulk_create(
        ledger_row(
            pair, reason, reserved=-qty, held=qty, reference=reference, note=note, actor=actor
        )
        for pair, qty in sorted(totals.items())
    )
    for pair, qty in sorted(totals.items()):
        if not change_level(pair, reserved=-qty, held=qty, guard=Q(reserved__gte=qty)):
            raise StockInvariantBroken(f"Less reserved than reservations hold at {pair}.")
    ship_days_free(locked)
    return requests

"""Stock sent from one location to another: out at once, in transit until received."""

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from inventory.errors import InvalidMovement, TransferNotAllowed, TransferNotOpen
from inventory.models import Reservation, Sku, StockMovement, Transfer
from inventory.services.levels import (
    MovementOrigin,
    add_on_hand,
    check_positive,
    pair_of,
    take_on_hand,
)
from inventory.services.reservations import lock_active, reservations_end
from stores.models import Location, StaffMembership
from stores.selectors import location_ids_for_user, staff_role_at

Reason = StockMovement.Reason


def transfer_ledger_reference(transfer: Transfer) -> str:
    """How the ledger rows of both ends name a transfer."""
    return f"transfer:{transfer.pk}"


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
    take_on_hand(
        pair_of(from_location, sku),
        quantity,
        Reason.TRANSFER_OUT,
        origin=MovementOrigin(
            actor=actor, reference=transfer_ledger_reference(transfer), note=reference
        ),
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
    locked = lock_active([reservation])
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
    reservations_end(
        locked,
        reason=Reason.TRANSFER_OUT,
        actor=actor,
        reference=transfer_ledger_reference(transfer),
        note=held.reference,
    )
    return transfer


@transaction.atomic
def stock_transfer_receive(*, transfer: Transfer, actor=None) -> Transfer:
    """The transfer arrived: its stock is on hand at the destination. Idempotent."""
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status == Transfer.Status.RECEIVED:
        return transfer
    add_on_hand(
        (transfer.to_location_id, transfer.sku_id),
        transfer.quantity,
        Reason.TRANSFER_IN,
        origin=MovementOrigin(
            actor=actor, reference=transfer_ledger_reference(transfer), note=transfer.reference
        ),
    )
    transfer.receive()
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_at", "updated_at"])
    return transfer


# Standalone transfers: a location asks another for stock, the sender ships, it is received.
STOCK_KEEPERS = (StaffMembership.Role.MANAGER, StaffMembership.Role.OPERATOR)


def _works_at(actor, location_id: int) -> bool:
    allowed = location_ids_for_user(user=actor)
    return allowed is None or location_id in allowed


def _locked(transfer: Transfer) -> Transfer:
    return (
        Transfer.objects.select_for_update()
        .select_related("from_location", "to_location", "sku")
        .get(pk=transfer.pk)
    )


@transaction.atomic
def transfer_request(
    *,
    from_location: Location,
    to_location: Location,
    sku: Sku,
    quantity: int,
    actor,
    note: str = "",
) -> Transfer:
    """A manager (or a warehouse's operator) of `to_location` asks `from_location` for stock.
    Nothing moves until the sender ships it."""  # fmt: skip
    check_positive(quantity)
    if from_location.pk == to_location.pk:
        raise InvalidMovement("Ask another location: this is your own.", field="from_location")
    if staff_role_at(user=actor, location=to_location) not in STOCK_KEEPERS:
        raise TransferNotAllowed(
            f"Only a manager of {to_location.code} can ask for stock to come there."
        )
    return Transfer.objects.create(
        from_location=from_location, to_location=to_location, sku=sku, quantity=quantity,
        status=Transfer.Status.REQUESTED, requested_by=actor, note=note,
        reference=f"request by {actor.get_username()}",
    )  # fmt: skip


@transaction.atomic
def transfer_ship(*, transfer: Transfer, actor) -> Transfer:
    """The sender sends what was asked for: out of its stock now (a transfer-out row in its
    ledger), in transit until the asking location receives it."""
    transfer = _locked(transfer)
    if not _works_at(actor, transfer.from_location_id):
        raise TransferNotAllowed(f"Only staff of {transfer.from_location.code} can ship it.")
    if not can_proceed(transfer.ship):
        raise TransferNotOpen(status=transfer.status)
    take_on_hand(
        pair_of(transfer.from_location, transfer.sku),
        transfer.quantity,
        Reason.TRANSFER_OUT,
        origin=MovementOrigin(
            actor=actor, reference=transfer_ledger_reference(transfer), note=transfer.note
        ),
    )
    transfer.ship()
    transfer.shipped_at = timezone.now()
    transfer.save(update_fields=["status", "shipped_at", "updated_at"])
    return transfer


@transaction.atomic
def transfer_decline(*, transfer: Transfer, actor, reason: str = "") -> Transfer:
    """The sender cannot send it; nothing moved."""
    transfer = _locked(transfer)
    if not _works_at(actor, transfer.from_location_id):
        raise TransferNotAllowed(f"Only staff of {transfer.from_location.code} can decline it.")
    if not can_proceed(transfer.decline):
        raise TransferNotOpen(status=transfer.status)
    transfer.decline()
    transfer.declined_by = actor if getattr(actor, "is_authenticated", False) else None
    transfer.note = (f"{transfer.note} / declined: {reason}" if reason else transfer.note)[:255]
    transfer.save(update_fields=["status", "declined_by", "note", "updated_at"])
    return transfer


@transaction.atomic
def transfer_receive(*, transfer: Transfer, actor) -> Transfer:
    """The asking location received a standalone transfer: on hand there (a transfer-in row
    in its ledger). An order's transfer is received with its fulfillment order instead."""
    transfer = _locked(transfer)
    if not _works_at(actor, transfer.to_location_id):
        raise TransferNotAllowed(f"Only staff of {transfer.to_location.code} can receive it.")
    if transfer.requested_by_id is None and transfer.reference:
        raise TransferNotOpen("This transfer is an order's: receive it with its order.")
    if transfer.status != Transfer.Status.IN_TRANSIT:
        raise TransferNotOpen(status=transfer.status)
    return stock_transfer_receive(transfer=transfer, actor=actor)

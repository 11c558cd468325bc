"""Stock sent from one location to another: out at once, in transit until received."""

from django.db import transaction
from django.utils import timezone

from inventory.errors import InvalidMovement
from inventory.models import Reservation, Sku, StockMovement, Transfer
from inventory.services.levels import (
    MovementOrigin,
    add_on_hand,
    check_positive,
    pair_of,
    take_on_hand,
)
from inventory.services.reservations import lock_active, reservations_end
from stores.models import Location

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

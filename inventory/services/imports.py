"""Movements sent by a POS or warehouse system, each idempotent by (source, external_id)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from inventory.models import Sku, StockMovement
from inventory.services.levels import MovementOrigin
from inventory.services.movements import RECORDABLE_REASONS, stock_movement_record
from stores.models import Location

IMPORTABLE_REASONS = list(RECORDABLE_REASONS)


@dataclass(frozen=True)
class MovementRow:
    source: str
    external_id: str
    location: Location
    sku: Sku
    reason: str
    quantity: int
    counted_at: datetime | None = None
    reference: str = ""
    note: str = ""


def movement_import(*, row: MovementRow, actor=None) -> str:
    """Apply one external movement; "applied", or "duplicate" when it was seen before.

    Each row is its own transaction: it is applied whole or not at all.
    """
    if StockMovement.objects.filter(source=row.source, external_id=row.external_id).exists():
        return "duplicate"
    origin = MovementOrigin(
        actor=actor,
        reference=row.reference,
        note=row.note,
        source=row.source,
        external_id=row.external_id,
    )
    try:
        with transaction.atomic():
            stock_movement_record(
                location=row.location,
                sku=row.sku,
                reason=row.reason,
                quantity=row.quantity,
                counted_at=row.counted_at,
                origin=origin,
            )
    except IntegrityError:
        # The same (source, external_id) was applied concurrently by a resend.
        if StockMovement.objects.filter(source=row.source, external_id=row.external_id).exists():
            return "duplicate"
        raise
    return "applied"

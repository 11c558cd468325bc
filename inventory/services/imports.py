"""Movements sent by a POS or warehouse system, each idempotent by (source, external_id)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from inventory.models import Sku, StockMovement
from inventory.services import stock
from stores.models import Location

Reason = StockMovement.Reason
IMPORTABLE_REASONS = [
    Reason.RECEIPT,
    Reason.ADJUSTMENT,
    Reason.CYCLE_COUNT,
    Reason.POS_SALE,
    Reason.WRITE_OFF,
]


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
    at = {
        "location": row.location,
        "sku": row.sku,
        "reference": row.reference,
        "source": row.source,
        "external_id": row.external_id,
        "actor": actor,
    }
    try:
        with transaction.atomic():
            if row.reason == Reason.RECEIPT:
                stock.stock_receive(quantity=row.quantity, note=row.note, **at)
            elif row.reason == Reason.ADJUSTMENT:
                stock.stock_adjust(delta=row.quantity, note=row.note, **at)
            elif row.reason == Reason.CYCLE_COUNT:
                stock.stock_cycle_count(counted=row.quantity, counted_at=row.counted_at, **at)
            elif row.reason == Reason.POS_SALE:
                stock.stock_pos_sale(quantity=row.quantity, **at)
            elif row.reason == Reason.WRITE_OFF:
                stock.stock_write_off(quantity=row.quantity, note=row.note, **at)
            else:
                raise ValueError(f"reason {row.reason!r} cannot be imported")
    except IntegrityError:
        # The same (source, external_id) was applied concurrently by a resend.
        if StockMovement.objects.filter(source=row.source, external_id=row.external_id).exists():
            return "duplicate"
        raise
    return "applied"

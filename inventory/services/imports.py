"""Movements sent by a POS or warehouse system, each idempotent by (source, external_id)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from common.errors import DomainError
from inventory.models import Sku, StockMovement
from inventory.selectors import skus_by_code
from inventory.services.batches import RejectedRow, RowStatus
from inventory.services.levels import MovementOrigin
from inventory.services.movements import RECORDABLE_REASONS, stock_movement_record
from inventory.signals import pos_sale_for_member
from stores.models import Location
from stores.selectors import locations_by_code

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
    member_id: str = ""  # a pos_sale to a loyalty member
    paid: Decimal | None = None  # what the till took for the units (None: their price)


def movement_import(*, row: MovementRow, actor=None) -> str:
    """Apply one external movement; "applied", or "duplicate" when it was seen before.

    Each row is its own transaction: it is applied whole or not at all.
    """
    if StockMovement.objects.filter(source=row.source, external_id=row.external_id).exists():
        return RowStatus.DUPLICATE
    origin = MovementOrigin(
        actor=actor,
        reference=row.reference,
        note=row.note,
        source=row.source,
        external_id=row.external_id,
    )
    try:
        with transaction.atomic():
            movement = stock_movement_record(
                location=row.location,
                sku=row.sku,
                reason=row.reason,
                quantity=row.quantity,
                counted_at=row.counted_at,
                origin=origin,
            )
            if row.member_id:  # the member's points follow the sale, or the row is refused
                pos_sale_for_member.send(
                    sender=StockMovement, movement=movement, member_id=row.member_id, paid=row.paid
                )
    except IntegrityError:
        # The same (source, external_id) was applied concurrently by a resend.
        if StockMovement.objects.filter(source=row.source, external_id=row.external_id).exists():
            return RowStatus.DUPLICATE
        raise
    return RowStatus.APPLIED


def movement_import_batch(
    *,
    rows: Sequence[Mapping | RejectedRow],
    actor: AbstractBaseUser | None,
    location_ids: set[int] | None,
) -> list[dict]:
    """Apply each valid movement row whose location is one of `location_ids` (None: any)."""
    valid = [row for row in rows if not isinstance(row, RejectedRow)]
    locations = locations_by_code(codes=[row["location"] for row in valid])
    skus = skus_by_code(codes=[row["sku"] for row in valid])
    results = []
    for index, data in enumerate(rows):
        if isinstance(data, RejectedRow):
            results.append({"index": index, "status": RowStatus.ERROR, "error": data.errors})
            continue
        location, sku = locations.get(data["location"]), skus.get(data["sku"])
        error = {}
        if location is None:
            error["location"] = [f"Unknown location: {data['location']}"]
        elif location_ids is not None and location.pk not in location_ids:
            error["location"] = [f"Location {data['location']} is not one of yours."]
        if sku is None:
            error["sku"] = [f"Unknown SKU: {data['sku']}"]
        if error:
            results.append({"index": index, "status": RowStatus.ERROR, "error": error})
            continue
        fields = {k: v for k, v in data.items() if k not in ("location", "sku")}
        try:
            outcome = movement_import(
                row=MovementRow(location=location, sku=sku, **fields), actor=actor
            )
        except DomainError as exc:
            results.append({"index": index, "status": RowStatus.ERROR, "error": exc.as_dict()})
            continue
        results.append({"index": index, "status": outcome})
    return results

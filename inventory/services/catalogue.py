"""Catalogue sync from a PIM or ERP: upsert SKUs by code."""

from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.db import transaction

from inventory.models import Sku
from inventory.services.batches import RejectedRow, RowStatus

SKU_FIELDS = ["name", "barcode", "price", "currency", "is_active"]


@transaction.atomic
def sku_upsert_many(*, rows: list[dict]) -> dict[str, str]:
    """Create or update SKUs given validated rows; returns code -> "created" | "updated"."""
    if not rows:
        return {}
    existing = set(
        Sku.objects.filter(code__in=[r["code"] for r in rows]).values_list("code", flat=True)
    )
    Sku.objects.bulk_create(
        [
            Sku(
                code=row["code"],
                name=row["name"],
                barcode=row.get("barcode", ""),
                price=Decimal(row["price"]),
                currency=row.get("currency", "CNY"),
                is_active=row.get("is_active", True),
            )
            for row in rows
        ],
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=[*SKU_FIELDS, "updated_at"],
    )
    return {
        row["code"]: RowStatus.UPDATED if row["code"] in existing else RowStatus.CREATED
        for row in rows
    }


def sku_sync_batch(*, rows: Sequence[Mapping | RejectedRow]) -> list[dict]:
    """Upsert every valid SKU row by code; a code named twice in one batch is refused."""
    results: list[dict | None] = []
    valid, seen = [], set()
    for index, data in enumerate(rows):
        if isinstance(data, RejectedRow):
            results.append(
                {"index": index, "code": data.code, "status": RowStatus.ERROR, "error": data.errors}
            )
        elif data["code"] in seen:
            results.append({"index": index, "code": data["code"], "status": RowStatus.ERROR,
                            "error": {"code": ["Appears twice in this batch."]}})  # fmt: skip
        else:
            seen.add(data["code"])
            valid.append((index, data))
            results.append(None)
    outcome = sku_upsert_many(rows=[data for _, data in valid])
    for index, data in valid:
        results[index] = {"index": index, "code": data["code"], "status": outcome[data["code"]]}
    return results

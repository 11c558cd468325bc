"""Catalogue sync from a PIM or ERP: upsert SKUs by code."""

from decimal import Decimal

from django.db import transaction

from inventory.models import Sku

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
    return {row["code"]: "updated" if row["code"] in existing else "created" for row in rows}

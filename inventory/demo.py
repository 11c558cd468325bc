"""Demo catalogue and stock with a realistic spread: some empty shelves, some low, safety stock
on stores, deep stock in warehouses. Bulk inserts, so 1,000 locations x 20,000 SKUs is minutes.
"""

import zlib
from collections.abc import Callable
from decimal import Decimal
from itertools import product

from django.db import connection, transaction

from inventory.models import Sku, StockLevel, StockMovement
from stores.models import Location

FAMILIES = [
    ("Running Tee", "99.00"), ("Trail Shorts", "189.00"), ("Rain Jacket", "599.00"),
    ("Merino Socks", "79.00"), ("Fleece Hoodie", "359.00"), ("Yoga Leggings", "299.00"),
    ("Down Vest", "459.00"), ("Canvas Sneaker", "399.00"), ("Trail Runner", "799.00"),
    ("Sport Cap", "129.00"), ("Daypack 20L", "349.00"), ("Water Bottle", "59.00"),
]  # fmt: skip
COLOURS = ["Black", "White", "Navy", "Olive", "Red", "Grey", "Sand", "Teal"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
BATCH = 5000


def demo_skus(count: int) -> list[Sku]:
    variants = product(range(1000), FAMILIES, COLOURS, SIZES)
    skus = []
    for n, (generation, (family, price), colour, size) in zip(range(count), variants, strict=False):
        name = f"{family} {colour} {size}" + (f" (series {generation + 1})" if generation else "")
        skus.append(
            Sku(code=f"SKU-{n + 1:05d}", name=name, barcode=f"69{n + 1:011d}",
                price=Decimal(price), currency="CNY")
        )  # fmt: skip
    return skus


def seed_skus(*, count: int, progress: Callable[[int], None] = lambda n: None) -> int:
    """Insert the first `count` demo SKUs that are missing; returns how many were new."""
    before = Sku.objects.count()
    skus = demo_skus(count)
    for start in range(0, len(skus), BATCH):
        with transaction.atomic():
            Sku.objects.bulk_create(skus[start : start + BATCH], ignore_conflicts=True)
        progress(len(skus[start : start + BATCH]))
    return Sku.objects.count() - before


def demo_quantity(kind: str, roll: int) -> tuple[int, int]:
    """(on hand, safety stock) for a roll in 0..999."""
    if kind == Location.Kind.WAREHOUSE:
        return (0 if roll < 50 else 40 + roll % 460), 0
    bucket = roll % 100
    if bucket < 15:
        on_hand = 0
    elif bucket < 40:
        on_hand = 1 + bucket % 3
    else:
        on_hand = 4 + bucket % 37
    return on_hand, 1 + roll % 2


_PG_STOCK_SQL = """
WITH pairs AS (
    SELECT l.id AS location_id, s.id AS sku_id, l.kind,
           abs(hashtext(l.id::text || '-' || s.id::text)::bigint) %% 1000 AS roll
    FROM stores_location l CROSS JOIN inventory_sku s
    WHERE l.id = ANY(%(location_ids)s) AND s.id = ANY(%(sku_ids)s)
), levels AS (
    INSERT INTO inventory_stocklevel
        (location_id, sku_id, on_hand, reserved, safety_stock, updated_at)
    SELECT location_id, sku_id,
           CASE WHEN kind = 'warehouse' THEN CASE WHEN roll < 50 THEN 0 ELSE 40 + roll %% 460 END
                WHEN roll %% 100 < 15 THEN 0
                WHEN roll %% 100 < 40 THEN 1 + (roll %% 100) %% 3
                ELSE 4 + (roll %% 100) %% 37 END,
           0,
           CASE WHEN kind = 'warehouse' THEN 0 ELSE 1 + roll %% 2 END,
           now()
    FROM pairs
    ON CONFLICT (location_id, sku_id) DO NOTHING
    RETURNING location_id, sku_id, on_hand
)
INSERT INTO inventory_stockmovement
    (location_id, sku_id, delta_on_hand, delta_reserved, reason, reference, note, source,
     external_id, created_at)
SELECT location_id, sku_id, on_hand, 0, 'receipt', 'seed', 'opening stock', '', '', now()
FROM levels WHERE on_hand > 0
"""


def _seed_stock_postgres(location_ids: list[int], sku_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_PG_STOCK_SQL, {"location_ids": location_ids, "sku_ids": sku_ids})


def _seed_stock_python(locations: list[Location], sku_ids: list[int]) -> None:
    existing = set(
        StockLevel.objects.filter(location__in=locations, sku_id__in=sku_ids).values_list(
            "location_id", "sku_id"
        )
    )
    levels, movements = [], []
    for location in locations:
        for sku_id in sku_ids:
            if (location.pk, sku_id) in existing:
                continue
            roll = zlib.crc32(f"{location.pk}-{sku_id}".encode()) % 1000
            on_hand, safety = demo_quantity(location.kind, roll)
            levels.append(StockLevel(location_id=location.pk, sku_id=sku_id, on_hand=on_hand,
                                     safety_stock=safety))  # fmt: skip
            if on_hand:
                movements.append(
                    StockMovement(location_id=location.pk, sku_id=sku_id, delta_on_hand=on_hand,
                                  reason=StockMovement.Reason.RECEIPT, reference="seed",
                                  note="opening stock")
                )  # fmt: skip
    StockLevel.objects.bulk_create(levels, batch_size=BATCH)
    StockMovement.objects.bulk_create(movements, batch_size=BATCH)


def seed_stock(
    *,
    location_codes: list[str],
    sku_codes: list[str],
    progress: Callable[[int], None] = lambda n: None,
) -> None:
    """Opening stock, with its receipt, for every pair of the demo's own locations and SKUs
    that has none yet. Never for a location or SKU the demo did not create: those hold real
    stock, and a fake receipt there would be believed."""
    sku_ids = list(
        Sku.objects.filter(code__in=sku_codes).order_by("pk").values_list("pk", flat=True)
    )
    locations = list(Location.objects.filter(code__in=location_codes).order_by("pk"))
    held = StockLevel.objects.filter(location__in=locations, sku_id__in=sku_ids).count()
    if held >= len(sku_ids) * len(locations):
        progress(len(locations))  # every pair already has its row
        return
    per_batch = max(1, 200_000 // max(1, len(sku_ids)))
    for start in range(0, len(locations), per_batch):
        batch = locations[start : start + per_batch]
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _seed_stock_postgres([loc.pk for loc in batch], sku_ids)
            else:
                _seed_stock_python(batch, sku_ids)
        progress(len(batch))

"""Demo catalogue and stock with a realistic spread: some empty shelves, some low, safety stock
on stores, deep stock in warehouses. Bulk inserts: 1,000 locations x 20,000 SKUs in about 4
minutes on 2 cores.

On PostgreSQL a large seed into empty stock tables (a fresh bench database) takes the fast
path of "Populating a Database" in the PostgreSQL manual: in one transaction, drop the stock
tables' secondary indexes and foreign keys, load, then recreate them exactly as they were.
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


_PG_STOCK_SQL_TEMPLATE = """
WITH pairs AS (
    SELECT l.id AS location_id, s.id AS sku_id, l.kind,
           abs(hashtext(l.id::text || '-' || s.id::text)::bigint) %% 1000 AS roll
    FROM stores_location l CROSS JOIN inventory_sku s
    WHERE l.id = ANY(%(location_ids)s) AND s.id = ANY(%(sku_ids)s)
), levels AS (
    INSERT INTO inventory_stocklevel
        (location_id, sku_id, on_hand, reserved, held, safety_stock, updated_at)
    SELECT location_id, sku_id,
           CASE WHEN kind = %(warehouse)s THEN CASE WHEN roll < 50 THEN 0 ELSE 40 + roll %% 460 END
                WHEN roll %% 100 < 15 THEN 0
                WHEN roll %% 100 < 40 THEN 1 + (roll %% 100) %% 3
                ELSE 4 + (roll %% 100) %% 37 END,
           0,
           0,
           CASE WHEN kind = %(warehouse)s THEN 0 ELSE 1 + roll %% 2 END,
           now()
    FROM pairs
    {on_conflict}
    RETURNING location_id, sku_id, on_hand
)
INSERT INTO inventory_stockmovement
    (location_id, sku_id, delta_on_hand, delta_reserved, delta_held, reason, reference, note,
     source, external_id, created_at)
SELECT location_id, sku_id, on_hand, 0, 0, %(receipt)s, 'seed', 'opening stock', '', '', now()
FROM levels WHERE on_hand > 0
"""
_PG_STOCK_SQL = _PG_STOCK_SQL_TEMPLATE.format(
    on_conflict="ON CONFLICT (location_id, sku_id) DO NOTHING"
)
# The fast path's load: the same rows, into empty tables whose unique index is dropped (so no
# ON CONFLICT, which needs it); re-adding the unique constraint afterwards proves there are
# no duplicates.
_PG_FAST_STOCK_SQL = _PG_STOCK_SQL_TEMPLATE.format(on_conflict="")


def _stock_sql_params(location_ids: list[int], sku_ids: list[int]) -> dict:
    return {
        "location_ids": location_ids,
        "sku_ids": sku_ids,
        "warehouse": Location.Kind.WAREHOUSE.value,
        "receipt": StockMovement.Reason.RECEIPT.value,
    }


def _seed_stock_postgres(location_ids: list[int], sku_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_PG_STOCK_SQL, _stock_sql_params(location_ids, sku_ids))


# A seed of this many missing pairs or more into empty stock tables takes the fast path.
FAST_PATH_MIN_PAIRS = 200_000

# (steps done, steps in all, the step starting now) of the fast path's rebuild.
StepProgress = Callable[[int, int, str], None]

_STOCK_SCHEMA_SQL = """
SELECT t.relname, c.conname, CASE c.contype WHEN 'f' THEN 'foreign key' ELSE 'unique' END,
       pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE c.conrelid = ANY(%(tables)s::regclass[]) AND c.contype IN ('f', 'u', 'x')
UNION ALL
SELECT t.relname, ic.relname, 'index', pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(tables)s::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
ORDER BY 1, 2
"""


def _stock_tables() -> list[str]:
    return [StockLevel._meta.db_table, StockMovement._meta.db_table]


def _stock_schema() -> dict[str, tuple[str, str, str]]:
    """{name: (table, kind, definition)} of what the fast path drops and recreates: the stock
    tables' secondary indexes (kind "index", as in pg_indexes.indexdef), their unique
    constraints ("unique") and foreign keys ("foreign key", as in pg_get_constraintdef).
    Primary keys and CHECK constraints stay in place."""
    with connection.cursor() as cursor:
        cursor.execute(_STOCK_SCHEMA_SQL, {"tables": _stock_tables()})
        return {name: (table, kind, definition) for table, name, kind, definition in cursor}


def _stock_tables_empty(*, lock: bool) -> bool:
    if lock:
        tables = ", ".join(connection.ops.quote_name(table) for table in _stock_tables())
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
    return not StockLevel.objects.exists() and not StockMovement.objects.exists()


def _fast_path_applies(*, missing: int) -> bool:
    """PostgreSQL, a large seed, empty stock tables, and not inside someone's transaction
    (whose pending deferred checks would forbid the ALTER TABLE, and which would hold the
    tables locked until it ends)."""
    return (
        connection.vendor == "postgresql"
        and missing >= FAST_PATH_MIN_PAIRS
        and not connection.in_atomic_block
        and _stock_tables_empty(lock=False)
    )


def _rebuild_steps(schema: dict[str, tuple[str, str, str]]) -> list[tuple[str, list[str]]]:
    """(label, statements) that recreate `schema` on tables without it, then ANALYZE them.
    maintenance_work_mem stays as configured: 1GB instead of 64MB made no index build of a
    20M-pair seed faster (their sorts spill to files the OS keeps cached)."""
    quote = connection.ops.quote_name
    steps = []
    for kind in ("index", "unique", "foreign key"):
        for name, (table, of_kind, definition) in schema.items():
            if of_kind != kind:
                continue
            alter = f"ALTER TABLE {quote(table)}"
            add = f"{alter} ADD CONSTRAINT {quote(name)} {definition}"
            if kind == "index":
                statements = [definition]
            elif kind == "unique" or definition.endswith(" NOT VALID"):
                statements = [add]  # (a foreign key that was NOT VALID stays so)
            else:
                statements = [f"{add} NOT VALID", f"{alter} VALIDATE CONSTRAINT {quote(name)}"]
            steps.append((f"{kind} {name}", statements))
    steps.append(("analyze", [f"ANALYZE {', '.join(map(quote, _stock_tables()))}"]))
    return steps


def _seed_stock_fast(
    batches: list[list[int]],
    sku_ids: list[int],
    progress: Callable[[int], None],
    rebuild_progress: StepProgress,
) -> None:
    """Inside the caller's transaction, with the empty stock tables locked: drop their
    secondary indexes, unique constraints and foreign keys, load every batch, then recreate
    each exactly as it was (foreign keys NOT VALID, then validated, so they stay DEFERRABLE
    INITIALLY DEFERRED) and ANALYZE. Anything failing rolls all of it back."""
    quote = connection.ops.quote_name
    schema = _stock_schema()
    with connection.cursor() as cursor:
        for name, (table, kind, _) in schema.items():
            if kind != "index":
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for name, (_, kind, _) in schema.items():
            if kind == "index":
                cursor.execute(f"DROP INDEX {quote(name)}")

        for location_ids in batches:
            cursor.execute(_PG_FAST_STOCK_SQL, _stock_sql_params(location_ids, sku_ids))
            progress(len(location_ids))

        steps = _rebuild_steps(schema)
        for done, (label, statements) in enumerate(steps):
            rebuild_progress(done, len(steps), label)
            for statement in statements:
                cursor.execute(statement)
        rebuild_progress(len(steps), len(steps), "done")

    if (rebuilt := _stock_schema()) != schema:
        raise RuntimeError(f"Stock indexes or constraints differ after the rebuild: {rebuilt}")


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
    rebuild_progress: StepProgress = lambda done, total, step: None,
) -> None:
    """Opening stock, with its receipt, for every pair of the demo's own locations and SKUs
    that has none yet. Never for a location or SKU the demo did not create: those hold real
    stock, and a fake receipt there would be believed.

    `progress` gets the number of locations of each batch loaded. On PostgreSQL, with both
    stock tables empty and at least FAST_PATH_MIN_PAIRS pairs to seed, the whole seed is one
    transaction that drops the tables' secondary indexes and foreign keys, loads, and then
    recreates them (each step reported to `rebuild_progress`): several times faster, and the
    same rows. Otherwise each batch is a transaction of its own, indexes and checks in place."""
    sku_ids = list(
        Sku.objects.filter(code__in=sku_codes).order_by("pk").values_list("pk", flat=True)
    )
    locations = list(Location.objects.filter(code__in=location_codes).order_by("pk"))
    held = StockLevel.objects.filter(location__in=locations, sku_id__in=sku_ids).count()
    if held >= len(sku_ids) * len(locations):
        progress(len(locations))  # every pair already has its row
        return
    per_batch = max(1, 200_000 // max(1, len(sku_ids)))
    batches = [
        locations[start : start + per_batch] for start in range(0, len(locations), per_batch)
    ]
    if _fast_path_applies(missing=len(sku_ids) * len(locations) - held):
        with transaction.atomic():
            if _stock_tables_empty(lock=True):  # still, now that nothing else can write
                _seed_stock_fast([[loc.pk for loc in batch] for batch in batches], sku_ids,
                                 progress, rebuild_progress)  # fmt: skip
                return
    for batch in batches:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _seed_stock_postgres([loc.pk for loc in batch], sku_ids)
            else:
                _seed_stock_python(batch, sku_ids)
        progress(len(batch))

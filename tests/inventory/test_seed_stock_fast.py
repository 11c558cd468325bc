"""The fast path of the stock seed (empty stock tables, a large seed): indexes and foreign keys
dropped, the rows loaded, both recreated. Forced here on a small seed by lowering its threshold.
Transactional tests: the fast path runs only as a transaction of its own, as seed_demo runs it.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from inventory import demo
from inventory.models import StockLevel, StockMovement
from stores.demo import demo_locations, seed_locations
from stores.models import Location

pytestmark = pytest.mark.django_db(transaction=True)

SEED_ARGS = ["--stores", "3", "--warehouses", "1", "--skus", "30", "--no-progress"]
TABLES = [StockLevel._meta.db_table, StockMovement._meta.db_table]


def _seed(*args: str) -> None:
    call_command("seed_demo", *(args or SEED_ARGS), stdout=StringIO())


def _levels() -> list[tuple]:
    return list(
        StockLevel.objects.order_by("location__code", "sku__code").values_list(
            "location__code", "sku__code", "on_hand", "reserved", "safety_stock"
        )
    )


def _movements() -> list[tuple]:
    return list(
        StockMovement.objects.order_by("location__code", "sku__code").values_list(
            "location__code", "sku__code", "delta_on_hand", "delta_reserved", "reason",
            "reference", "note", "source", "external_id", "actor",
        )
    )  # fmt: skip


def _catalog() -> tuple[set, set]:
    """Every index (pg_indexes) and every constraint (pg_constraint) of the stock tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
            [TABLES],
        )
        indexes = set(cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), "
            "convalidated, condeferrable, condeferred FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[])",
            [TABLES],
        )
        constraints = set(cursor.fetchall())
    return indexes, constraints


def _index_oids() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indexrelid::int FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[])",
            [TABLES],
        )
        return dict(cursor.fetchall())


@pytest.fixture
def fast_path(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(demo, "FAST_PATH_MIN_PAIRS", 1)


@pytest.fixture
def normal_seed(settings, tmp_path):
    """The rows the normal path gives, then empty stock tables (locations and SKUs stay)."""
    settings.VAR_DIR = tmp_path
    _seed()
    rows = _levels(), _movements()
    StockMovement.objects.all().delete()
    StockLevel.objects.all().delete()
    return rows


def test_the_fast_path_gives_the_rows_of_the_normal_path(normal_seed, fast_path):
    before = _index_oids()

    _seed()

    assert (_levels(), _movements()) == normal_seed
    assert _index_oids().keys() == before.keys()
    assert _index_oids() != before, "the secondary indexes were rebuilt"
    levels = _levels()
    assert len(levels) == 4 * 30
    kinds = dict(Location.objects.values_list("code", "kind"))
    assert all(safety > 0 for code, *_, safety in levels if kinds[code] == "store")
    assert StockMovement.objects.count() == len([row for row in levels if row[2] > 0])


def test_the_fast_path_passes_verify_stock(fast_path):
    _seed()
    out = StringIO()

    call_command("verify_stock", stdout=out, stderr=StringIO())

    assert "Stock invariants hold." in out.getvalue()


def test_the_fast_path_recreates_every_index_and_constraint_as_it_was(fast_path):
    before, oids = _catalog(), _index_oids()
    indexes, constraints = before
    assert {"stocklevel_location_sku_uniq", "movement_pair_idx"} <= {row[1] for row in indexes}
    assert len([row for row in constraints if row[2] == "f"]) == 5

    _seed()

    assert _catalog() == before
    rebuilt = {name for name, oid in _index_oids().items() if oid != oids[name]}
    assert rebuilt == set(oids) - {f"{table}_pkey" for table in TABLES}


def test_seeding_again_after_the_fast_path_adds_nothing_and_rebuilds_nothing(fast_path):
    _seed()
    rows, catalog, oids = (_levels(), _movements()), _catalog(), _index_oids()

    _seed()

    assert (_levels(), _movements()) == rows
    assert _catalog() == catalog
    assert _index_oids() == oids


def test_stock_tables_with_any_row_take_the_normal_path(fast_path):
    _seed("--stores", "3", "--warehouses", "1", "--skus", "5", "--no-progress")
    oids = _index_oids()

    _seed()

    assert len(_levels()) == 4 * 30
    assert _index_oids() == oids, "nothing was dropped"


def test_a_failed_rebuild_rolls_everything_back(fast_path, monkeypatch):
    catalog = _catalog()
    rebuild_steps = demo._rebuild_steps
    monkeypatch.setattr(demo, "_rebuild_steps", lambda schema: rebuild_steps(schema)[1:])

    with pytest.raises(RuntimeError, match="differ after the rebuild"):
        _seed()

    assert _catalog() == catalog
    assert not StockLevel.objects.exists()
    assert not StockMovement.objects.exists()


def test_the_fast_path_reports_the_load_by_batches_and_the_rebuild_by_steps(fast_path):
    seed_locations(stores=3, warehouses=1)
    demo.seed_skus(count=30)
    loaded, steps = [], []

    demo.seed_stock(
        location_codes=[loc.code for loc in demo_locations(stores=3, warehouses=1)],
        sku_codes=[sku.code for sku in demo.demo_skus(30)],
        progress=loaded.append,
        rebuild_progress=lambda done, total, step: steps.append((done, total, step)),
    )

    assert loaded == [4]
    labels = [step for _, _, step in steps]
    assert "unique stocklevel_location_sku_uniq" in labels
    assert "index movement_pair_idx" in labels
    assert len([label for label in labels if label.startswith("foreign key ")]) == 5
    assert labels[-2:] == ["analyze", "done"]
    assert [done for done, _, _ in steps] == list(range(len(steps)))
    assert {total for _, total, _ in steps} == {len(steps) - 1}

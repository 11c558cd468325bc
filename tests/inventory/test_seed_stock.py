from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from inventory.models import StockLevel, StockMovement
from stores.models import Location

SEED_ARGS = ["--stores", "3", "--warehouses", "1", "--skus", "30", "--no-progress"]


def _levels() -> list[tuple]:
    return list(
        StockLevel.objects.order_by("location__code", "sku__code").values_list(
            "location__code", "sku__code", "on_hand", "reserved", "safety_stock"
        )
    )


@pytest.fixture
def seeded(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", *SEED_ARGS, stdout=StringIO())
    return _levels()


def test_seeding_twice_gives_the_same_stock(seeded):
    movements = StockMovement.objects.count()

    call_command("seed_demo", *SEED_ARGS, stdout=StringIO())

    assert _levels() == seeded
    assert StockMovement.objects.count() == movements


def test_seeded_stock_has_a_level_and_a_receipt_for_every_pair(seeded):
    assert len(seeded) == 4 * 30
    assert all(reserved == 0 for _, _, _, reserved, _ in seeded)
    stocked = [row for row in seeded if row[2] > 0]
    assert StockMovement.objects.count() == len(stocked)
    assert set(StockMovement.objects.values_list("reason", flat=True)) == {"receipt"}
    total = StockMovement.objects.aggregate(total=Sum("delta_on_hand"))["total"]
    assert total == sum(on_hand for _, _, on_hand, _, _ in seeded)


def test_seeded_stock_passes_verify_stock(seeded):
    out = StringIO()

    call_command("verify_stock", stdout=out, stderr=StringIO())

    assert "Stock invariants hold." in out.getvalue()


def test_seeded_stock_has_a_realistic_spread(seeded):
    kinds = dict(Location.objects.values_list("code", "kind"))
    stores = [row for row in seeded if kinds[row[0]] == Location.Kind.STORE]
    warehouses = [row for row in seeded if kinds[row[0]] == Location.Kind.WAREHOUSE]

    assert len(stores) == 90
    assert len(warehouses) == 30
    assert any(on_hand == 0 for _, _, on_hand, _, _ in stores), "some shelves are empty"
    assert any(on_hand > 0 for _, _, on_hand, _, _ in stores)
    assert len({on_hand for _, _, on_hand, _, _ in stores}) > 5, "quantities vary"
    assert all(safety > 0 for _, _, _, _, safety in stores), "stores keep safety stock"
    assert all(safety == 0 for _, _, _, _, safety in warehouses), "warehouses keep none"
    assert max(on_hand for _, _, on_hand, _, _ in warehouses) > max(
        on_hand for _, _, on_hand, _, _ in stores
    ), "warehouses hold deeper stock than stores"

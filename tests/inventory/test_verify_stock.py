from io import StringIO

import pytest
from django.core.management import call_command

from inventory.models import Reservation, StockMovement
from tests.inventory.factories import SkuFactory, reserve_one, stock_put
from tests.stores.factories import LocationFactory


def _verify_stock() -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `manage.py verify_stock`."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_stock", stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def store(db):
    return LocationFactory()


@pytest.fixture
def sku(db):
    return SkuFactory()


def test_verify_stock_exits_0_on_clean_data(store, sku):
    stock_put(location=store, sku=sku, on_hand=5, safety_stock=1)
    reserve_one(location=store, sku=sku, quantity=2)

    code, out, err = _verify_stock()

    assert code == 0
    assert "Stock invariants hold." in out
    assert err == ""


def test_verify_stock_exits_1_when_a_ledger_row_is_missing(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    StockMovement.objects.filter(location=store, sku=sku).delete()

    code, _, err = _verify_stock()

    assert code == 1
    assert f"ledger: location {store.pk} sku {sku.pk}: level 5/0, ledger sums 0/0" in err
    assert "1 stock invariant breach(es)." in err


def test_verify_stock_exits_1_when_reserved_differs_from_active_reservations(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)
    Reservation.objects.filter(pk=reservation.pk).update(status=Reservation.Status.RELEASED)

    code, _, err = _verify_stock()

    assert code == 1
    assert (
        f"reservations: location {store.pk} sku {sku.pk}: reserved 3, active reservations 0" in err
    )


def test_verify_stock_exits_1_on_movements_of_a_pair_without_a_stock_level(store, sku):
    StockMovement.objects.create(
        location=store, sku=sku, delta_on_hand=4, reason=StockMovement.Reason.RECEIPT
    )

    code, _, err = _verify_stock()

    assert code == 1
    assert f"ledger: location {store.pk} sku {sku.pk}: movements without a stock level" in err


def test_verify_stock_prints_every_breach(store, sku):
    other = SkuFactory()
    stock_put(location=store, sku=sku, on_hand=5)
    stock_put(location=store, sku=other, on_hand=4)
    reservation = reserve_one(location=store, sku=other, quantity=1)
    StockMovement.objects.filter(location=store, sku=sku).delete()
    Reservation.objects.filter(pk=reservation.pk).update(quantity=2)

    code, out, err = _verify_stock()

    assert code == 1
    breaches = [line for line in err.splitlines() if line.startswith(("ledger:", "reservations:"))]
    assert breaches == [
        f"ledger: location {store.pk} sku {sku.pk}: level 5/0, ledger sums 0/0",
        f"reservations: location {store.pk} sku {other.pk}: reserved 1, active reservations 2",
    ]
    assert "2 stock invariant breach(es)." in err
    assert "Stock invariants hold." not in out

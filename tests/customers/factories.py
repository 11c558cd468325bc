"""Customers test data: members, and the checks every scenario ends with."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import assert_stock_consistent
from tests.orders.factories import CustomerFactory

__all__ = ["CustomerFactory", "assert_all_clean", "checkout_as"]

MOBILE = "+8613800138000"
OTHER_MOBILE = "+8613900139000"


def assert_all_clean() -> None:
    """verify_stock and verify_money find nothing."""
    assert_stock_consistent()
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_money", stdout=out, stderr=err)
    except SystemExit:
        pytest.fail(f"verify_money found breaches:\n{err.getvalue()}")


def checkout_as(client, location, sku, customer: dict, **extra):
    """A pickup of one `sku` at `location` for `customer` (the checkout body's customer)."""
    from tests.factories import new_key

    payload = {
        "customer": customer,
        "channel": "web",
        "lines": [{"sku": sku.code, "quantity": 1}],
        "delivery": {"method": "pickup", "location": location.code},
        **extra,
    }
    return client.post("/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=new_key())

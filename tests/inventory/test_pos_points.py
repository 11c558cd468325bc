"""A till's sale synced through the movements API with a member id earns that member's
points, once however often it is resent; an unknown member refuses the row whole."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from customers.models import PointsEntry
from customers.selectors import customer_points_summary
from inventory.models import StockMovement
from tests.factories import assert_ledgers_clean, staff_client, staff_member
from tests.inventory.factories import level_of, stock_put
from tests.orders.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    user = staff_member(xuhui)
    user.user_permissions.add(Permission.objects.get(codename="add_stockmovement"))
    return staff_client(user=user)


@pytest.fixture
def member():
    return CustomerFactory(email="ada@example.com", member_id="M100")


def sale(external_id: str, **fields) -> dict:
    return {
        "movements": [
            {
                "source": "pos-1",
                "external_id": external_id,
                "location": "SH-XUHUI",
                "sku": "TEE-WHITE-M",
                "reason": "pos_sale",
                "quantity": 2,
                **fields,
            }
        ]
    }


def post(client, payload):
    return client.post("/api/v1/inventory/movements", payload, format="json")


def test_a_members_till_sale_earns_on_what_was_paid_once(till, member, xuhui, tee):
    first = post(till, sale("r-1", member_id="M100", paid="180.00"))
    again = post(till, sale("r-1", member_id="M100", paid="180.00"))

    assert [r["status"] for r in first.json()["results"] + again.json()["results"]] == [
        "applied",
        "duplicate",
    ]
    assert customer_points_summary(member)["balance"] == 180
    [earned] = PointsEntry.objects.filter(kind="earn")
    assert (earned.source, earned.value) == ("pos/pos-1/r-1", Decimal("180.00"))
    assert level_of(xuhui, tee).on_hand == 8
    assert_ledgers_clean()


def test_without_paid_the_units_price_earns(till, member):
    post(till, sale("r-2", member_id="M100"))

    assert customer_points_summary(member)["balance"] == 198


def test_an_unknown_member_refuses_the_row_and_its_stock_stays(till, member, xuhui, tee):
    response = post(till, sale("r-3", member_id="M999"))

    assert response.status_code == 400
    [row] = response.json()["results"]
    assert (row["status"], row["error"]["code"]) == ("error", "unknown_member")
    assert not StockMovement.objects.filter(external_id="r-3").exists()
    assert level_of(xuhui, tee).on_hand == 10


def test_only_a_pos_sale_names_a_member(till, member):
    response = post(till, sale("r-4", member_id="M100", reason="receipt"))

    assert response.status_code == 400
    assert "member_id" in response.json()["results"][0]["error"]

"""GET /api/v1/customers/{id}/points and a manager's adjustment."""

from decimal import Decimal

import pytest

from customers.models import PointsEntry
from customers.points import points_adjust, points_earn
from stores.models import StaffMembership
from tests.factories import api_client_for, channel_client, new_key, place_order, staff_client
from tests.inventory.factories import stock_put
from tests.orders.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(xuhui, tee):
    customer = CustomerFactory(email="ada@example.com")
    # Staff open the customers they serve: Ada picks up at Xuhui.
    stock_put(location=xuhui, sku=tee, on_hand=1)
    place_order([(tee, 1)], method="pickup", location=xuhui)
    points_earn(customer=customer, source="o1/earn/1", value=Decimal("120.00"))
    points_adjust(customer=customer, points=30, reason="welcome", actor=None, source="adj/0")
    return customer


def adjust(client, customer, key=None, **data):
    return client.post(
        f"/api/v1/customers/{customer.pk}/points/adjust",
        data,
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or new_key(),
    )


def test_the_ledger_is_newest_first_with_the_balance(ada, xuhui):
    response = staff_client(xuhui).get(f"/api/v1/customers/{ada.pk}/points")

    assert response.status_code == 200, response.content
    data = response.json()
    assert [row["kind"] for row in data["results"]] == ["adjust", "earn"]
    assert data["count"] == 2
    assert data["points"]["balance"] == 150
    assert data["results"][1]["rate"] == "1.0000"


def test_a_channel_client_reads_the_ledger_and_pages_it(ada):
    response = channel_client("web").get(f"/api/v1/customers/{ada.pk}/points?limit=1")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    assert response.json()["next"]


def test_a_user_who_is_neither_staff_nor_a_channel_is_403(ada, django_user_model):
    nobody = django_user_model.objects.create_user(username="nobody")

    response = api_client_for(nobody).get(f"/api/v1/customers/{ada.pk}/points")

    assert response.status_code == 403


def test_an_unknown_customer_or_one_the_store_does_not_serve_is_404(xuhui, pudong, ada):
    unknown = staff_client(xuhui).get("/api/v1/customers/999999/points")
    elsewhere = staff_client(pudong).get(f"/api/v1/customers/{ada.pk}/points")

    assert (unknown.status_code, elsewhere.status_code) == (404, 404)
    assert unknown.json()["code"] == "not_found"


def test_a_manager_adjusts_with_a_reason_once_per_key(ada, xuhui):
    manager = staff_client(xuhui, role=StaffMembership.Role.MANAGER)
    key = new_key()

    first = adjust(manager, ada, key=key, points=-50, reason="returned gift")
    again = adjust(manager, ada, key=key, points=-50, reason="returned gift")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["points"], first.json()["reason"]) == (-50, "returned gift")
    assert first.json()["actor"] == manager.user.username
    assert PointsEntry.objects.filter(customer=ada, kind="adjust").count() == 2


def test_an_associate_may_not_adjust(ada, xuhui):
    response = adjust(staff_client(xuhui), ada, points=10, reason="nice")

    assert response.status_code == 403
    assert not PointsEntry.objects.filter(reason="nice").exists()


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"points": 10}, 400, "invalid"),
        ({"points": 10, "reason": "  "}, 400, "invalid"),
        ({"points": 0, "reason": "zero"}, 400, "invalid"),
        ({"points": -151, "reason": "too many"}, 409, "insufficient_points"),
    ],
)
def test_bad_adjustments_change_nothing(ada, xuhui, data, status, code):
    manager = staff_client(xuhui, role=StaffMembership.Role.MANAGER)

    response = adjust(manager, ada, **data)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert PointsEntry.objects.filter(customer=ada).count() == 2


def test_the_customer_detail_shows_the_points_and_tier(ada, xuhui):
    response = staff_client(xuhui).get(f"/api/v1/customers/{ada.pk}")

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["tier"] == "member"
    assert (data["points"]["balance"], data["points"]["value"]) == (150, "1.50")
    assert [lot["points"] for lot in data["points"]["expiring"]] == [120, 30]

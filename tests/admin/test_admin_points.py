"""The customer page shows the points; managers adjust them in the admin, with a reason."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from customers.models import PointsEntry
from customers.points import points_earn
from stores.models import StaffMembership
from tests.admin.helpers import store_staff
from tests.factories import XUHUI, place_order
from tests.fulfillment.factories import LocationFactory, SkuFactory, stock_put
from tests.orders.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/customers/pointsentry/add/"


@pytest.fixture
def store():
    return LocationFactory(code="SH-XUHUI", **XUHUI)


@pytest.fixture
def ada(store):
    customer = CustomerFactory(email="ada@example.com")
    tee = SkuFactory(code="TEE-M")
    stock_put(location=store, sku=tee, on_hand=1)
    place_order([(tee, 1)], method="pickup", location=store)  # a customer the store serves
    points_earn(customer=customer, source="o1/earn/1", value=Decimal("80.00"))
    return customer


def in_admin(client, store, role):
    user = store_staff(store, f"xuhui-{role}", role=role)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_customer", "view_pointsentry", "add_pointsentry"]
        )
    )
    client.force_login(user)
    return user


def test_the_customer_page_shows_balance_tier_and_ledger(client, store, ada):
    in_admin(client, store, StaffMembership.Role.ASSOCIATE)

    page = client.get(f"/admin/customers/customer/{ada.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "80 spendable (worth 0.80)" in text
    assert "member" in text
    assert "o1/earn/1" in text


def test_a_manager_adjusts_with_a_reason(client, store, ada):
    manager = in_admin(client, store, StaffMembership.Role.MANAGER)

    missing = client.post(ADD, {"customer": ada.pk, "points": 20, "reason": ""})
    too_many = client.post(ADD, {"customer": ada.pk, "points": -81, "reason": "typo"})
    done = client.post(ADD, {"customer": ada.pk, "points": -30, "reason": "double earn"})

    assert (missing.status_code, too_many.status_code) == (200, 200)  # the form again
    assert "only 80 points" in too_many.content.decode()
    assert done.status_code == 302
    [entry] = PointsEntry.objects.filter(kind="adjust")
    assert (entry.points, entry.reason, entry.actor) == (-30, "double earn", manager)


def test_an_associate_cannot_adjust(client, store, ada):
    in_admin(client, store, StaffMembership.Role.ASSOCIATE)

    assert client.get(ADD).status_code == 403

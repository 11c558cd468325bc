"""The stock admin for store staff: their transfers only, movements through the services."""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from inventory.models import StockLevel, StockMovement, Transfer
from inventory.services import stock_transfer
from stores.models import StaffMembership
from stores.roles import staff_role_grant
from tests.inventory.factories import SkuFactory, stock_put
from tests.stores.factories import LocationFactory, StaffMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def transfers():
    xuhui, pudong, beijing, haidian = (
        LocationFactory(code=code)
        for code in ("SH-XUHUI", "SH-PUDONG", "BJ-CHAOYANG", "BJ-HAIDIAN")
    )
    sku = SkuFactory()
    for location in (xuhui, pudong, beijing):
        stock_put(location=location, sku=sku, on_hand=5)
    return {
        "out": stock_transfer(from_location=xuhui, to_location=pudong, sku=sku, quantity=1),
        "in": stock_transfer(from_location=pudong, to_location=xuhui, sku=sku, quantity=1),
        "elsewhere": stock_transfer(
            from_location=beijing, to_location=haidian, sku=sku, quantity=1
        ),
    }


@pytest.fixture
def xuhui_staff(client, transfers):
    membership = StaffMembershipFactory(location=transfers["out"].from_location)
    membership.user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inventory", codename="view_transfer")
    )
    client.force_login(membership.user)
    return client


def test_staff_list_only_transfers_leaving_or_arriving_at_their_locations(xuhui_staff, transfers):
    response = xuhui_staff.get("/admin/inventory/transfer/")

    assert response.status_code == 200
    shown = {t.pk for t in response.context["cl"].result_list}
    assert shown == {transfers["out"].pk, transfers["in"].pk}
    assert "BJ-CHAOYANG" not in response.content.decode()


def test_staff_cannot_open_a_transfer_between_other_stores(xuhui_staff, transfers):
    elsewhere = transfers["elsewhere"]

    response = xuhui_staff.get(f"/admin/inventory/transfer/{elsewhere.pk}/change/")

    # As for a transfer that does not exist: back to the list, nothing shown.
    assert (response.status_code, response.url) == (302, "/admin/inventory/transfer/")


def test_a_superuser_lists_every_transfer(client, transfers):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get("/admin/inventory/transfer/")

    assert {t.pk for t in response.context["cl"].result_list} == set(
        Transfer.objects.values_list("pk", flat=True)
    )


@pytest.fixture
def store_and_staff(client):
    membership = StaffMembershipFactory(role=StaffMembership.Role.MANAGER)
    staff_role_grant(user=membership.user, role=StaffMembership.Role.MANAGER)
    client.force_login(membership.user)
    sku = SkuFactory()
    stock_put(location=membership.location, sku=sku, on_hand=3)
    return client, membership.location, sku


def _record(client, location, sku, **fields):
    data = {"location": location.pk, "sku": sku.code, "note": "counted by the till", **fields}
    return client.post("/admin/inventory/stockmovement/add/", data, follow=True)


def test_a_refused_movement_keeps_the_form_and_names_the_sku_and_quantities(store_and_staff):
    client, location, sku = store_and_staff
    movements = StockMovement.objects.count()

    response = _record(client, location, sku, reason="write_off", quantity=5)

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Not recorded for {sku.code}" in page
    assert "on hand 3, reserved 0, you entered 5" in page
    assert response.context["form"].data["note"] == "counted by the till"  # input kept
    assert StockMovement.objects.count() == movements
    assert not LogEntry.objects.filter(action_flag=ADDITION).exists()


def test_a_recorded_movement_says_the_real_change_and_is_logged(store_and_staff):
    client, location, sku = store_and_staff

    response = _record(client, location, sku, reason="adjustment", quantity=-1)

    movement = StockMovement.objects.latest("pk")
    assert (movement.reason, movement.delta_on_hand) == ("adjustment", -1)
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"{sku.code} {sku.name} at {location.code}: on hand 3 → 2 (-1)" in message
    [entry] = LogEntry.objects.filter(action_flag=ADDITION)
    assert entry.object_id == str(movement.pk)


def test_a_barcode_finds_the_sku_of_a_movement(store_and_staff):
    client, location, sku = store_and_staff

    _record(client, location, sku, reason="receipt", quantity=2)
    client.post(
        "/admin/inventory/stockmovement/add/",
        {"location": location.pk, "sku": sku.barcode, "reason": "receipt", "quantity": 2,
         "note": "delivery"},
    )  # fmt: skip

    level = StockLevel.objects.get(location=location, sku=sku)
    assert level.on_hand == 3 + 2 + 2


def test_an_associate_cannot_record_a_movement(client):
    membership = StaffMembershipFactory(role=StaffMembership.Role.ASSOCIATE)
    staff_role_grant(user=membership.user, role=StaffMembership.Role.ASSOCIATE)
    client.force_login(membership.user)
    sku = SkuFactory()

    response = client.post(
        "/admin/inventory/stockmovement/add/",
        {"location": membership.location.pk, "sku": sku.code, "reason": "receipt",
         "quantity": 5, "note": "x"},
    )  # fmt: skip

    assert response.status_code == 403
    assert not StockMovement.objects.filter(sku=sku).exists()

"""The stock admin for store staff: their transfers only, movements through the services."""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from inventory.models import StockLevel, StockMovement, Transfer
from inventory.services import stock_hold_not_found, stock_hold_receive, stock_transfer
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


# --- the hold: held units shown, never available; count requests to act on ------------------


@pytest.fixture
def hold_staff(client):
    """A manager of one store, who may see its stock and count requests and record counts."""
    membership = StaffMembershipFactory(role=StaffMembership.Role.MANAGER)
    membership.user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inventory",
            codename__in=[
                "view_stocklevel",
                "add_stockmovement",
                "view_stockmovement",
                "view_countrequest",
            ],
        )
    )
    client.force_login(membership.user)
    return client, membership.location


def test_the_stock_level_page_shows_held_units_apart_from_available(hold_staff):
    client, store = hold_staff
    sku = SkuFactory()
    stock_put(location=store, sku=sku, on_hand=3)
    stock_hold_receive(location=store, sku=sku, quantity=2, reference="return:1")

    response = client.get("/admin/inventory/stocklevel/?held=yes")

    assert response.status_code == 200
    [row] = response.context["cl"].result_list
    assert (row.on_hand, row.reserved, row.held, row.available) == (5, 0, 2, 3)
    page = response.content.decode()
    assert "column-held" in page
    assert '<td class="field-held">2</td>' in page
    assert '<td class="field-available_to_promise">3</td>' in page
    assert client.get("/admin/inventory/stocklevel/?held=no").context["cl"].result_count == 0


def test_staff_see_their_count_requests_and_record_the_count_from_one(hold_staff):
    client, store = hold_staff
    sku = SkuFactory()
    stock_put(location=store, sku=sku, on_hand=4)
    request = stock_hold_not_found(location=store, sku=sku, quantity=2, reference="ORDER-9")
    elsewhere = LocationFactory()
    stock_put(location=elsewhere, sku=sku, on_hand=1)
    stock_hold_not_found(location=elsewhere, sku=sku, quantity=1, reference="ORDER-8")

    listing = client.get("/admin/inventory/countrequest/")

    assert [r.pk for r in listing.context["cl"].result_list] == [request.pk]
    link = f"/admin/inventory/stockmovement/add/?location={store.pk}&amp;sku={sku.code}"
    assert link in listing.content.decode()
    form = client.get(
        f"/admin/inventory/stockmovement/add/?location={store.pk}&sku={sku.code}&reason=cycle_count"
    ).context["form"]
    assert (form.initial["location"], form.initial["sku"], form.initial["reason"]) == (
        str(store.pk),
        sku.code,
        "cycle_count",
    )

    _record(client, store, sku, reason="cycle_count", quantity=3)

    request.refresh_from_db()
    assert request.status == "counted"
    level = StockLevel.objects.get(location=store, sku=sku)
    assert (level.on_hand, level.held) == (3, 0)
    shown = client.get("/admin/inventory/countrequest/").content.decode()
    assert "Record the count" not in shown
    assert "counted " in shown


def test_staff_put_damaged_units_into_the_hold_and_inspect_them_in_the_admin(hold_staff):
    client, store = hold_staff
    sku = SkuFactory()
    stock_put(location=store, sku=sku, on_hand=5)

    _record(client, store, sku, reason="damaged", quantity=3, note="water damage")
    assert _buckets(store, sku) == (5, 3)
    _record(client, store, sku, reason="return_restock", quantity=1)
    assert _buckets(store, sku) == (5, 2)
    _record(client, store, sku, reason="write_off", quantity=2, from_hold="on")
    assert _buckets(store, sku) == (3, 0)

    response = _record(client, store, sku, reason="return_restock", quantity=1)

    page = response.content.decode()
    assert f"Not recorded for {sku.code}" in page
    assert "Fewer units are held" in page
    reasons = StockMovement.objects.filter(location=store, sku=sku).order_by("pk")
    assert list(reasons.values_list("reason", "delta_on_hand", "delta_held")) == [
        ("receipt", 5, 0),
        ("damaged", 0, 3),
        ("return_restock", 0, -1),
        ("write_off", -2, -2),
    ]


def _buckets(location, sku) -> tuple[int, int]:
    level = StockLevel.objects.get(location=location, sku=sku)
    return level.on_hand, level.held


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

"""Standalone transfers: a manager asks another location for stock, the sender ships it
(out of its ledger), the asking store receives it (into its ledger). API and admin."""

import pytest

from inventory.models import StockLevel, StockMovement, Transfer
from stores.models import StaffMembership
from tests.admin.helpers import store_staff
from tests.factories import assert_stock_consistent, staff_client
from tests.inventory.factories import SkuFactory, stock_put
from tests.stores.factories import LocationFactory, WarehouseFactory

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role


@pytest.fixture
def chain():
    store = LocationFactory(code="SH-XUHUI")
    dc = WarehouseFactory(code="DC-KUNSHAN")
    elsewhere = LocationFactory(code="BJ-CHAOYANG")
    sku = SkuFactory(code="TEE-M")
    stock_put(location=dc, sku=sku, on_hand=50)
    stock_put(location=store, sku=sku, on_hand=2)
    return store, dc, elsewhere, sku


def _on_hand(location, sku) -> int:
    return StockLevel.objects.get(location=location, sku=sku).on_hand


def test_a_manager_asks_the_dc_which_ships_and_the_store_receives(chain):
    store, dc, _, sku = chain
    manager = staff_client(store, role=Role.MANAGER)
    operator = staff_client(dc, role=Role.OPERATOR)

    asked = manager.post(
        "/api/v1/transfers",
        {"from_location": "DC-KUNSHAN", "to_location": "SH-XUHUI", "sku": "TEE-M",
         "quantity": 10, "note": "weekend promotion"},
        format="json",
    )  # fmt: skip
    pk = asked.json()["id"]
    untouched = (_on_hand(dc, sku), _on_hand(store, sku))
    shipped = operator.post(f"/api/v1/transfers/{pk}/ship")
    in_transit = (_on_hand(dc, sku), _on_hand(store, sku))
    received = manager.post(f"/api/v1/transfers/{pk}/receive")

    assert asked.status_code == 201
    assert asked.json()["status"] == "requested"
    assert untouched == (50, 2)  # nothing moves until the sender ships
    assert shipped.json()["status"] == "in_transit"
    assert in_transit == (40, 2)
    assert received.json()["status"] == "received"
    assert (_on_hand(dc, sku), _on_hand(store, sku)) == (40, 12)
    ledger = StockMovement.objects.filter(reference=f"transfer:{pk}")
    assert sorted(ledger.values_list("location__code", "delta_on_hand")) == [
        ("DC-KUNSHAN", -10), ("SH-XUHUI", 10),
    ]  # fmt: skip
    assert_stock_consistent()


def test_an_associate_cannot_ask_for_stock(chain):
    store, *_ = chain

    response = staff_client(store).post(
        "/api/v1/transfers",
        {"from_location": "DC-KUNSHAN", "to_location": "SH-XUHUI", "sku": "TEE-M",
         "quantity": 1},
        format="json",
    )  # fmt: skip

    assert (response.status_code, response.json()["code"]) == (403, "transfer_not_allowed")
    assert not Transfer.objects.exists()


def test_only_the_sender_ships_only_the_asker_receives_and_others_see_nothing(chain):
    store, dc, elsewhere, _ = chain
    manager = staff_client(store, role=Role.MANAGER)
    pk = manager.post(
        "/api/v1/transfers",
        {"from_location": "DC-KUNSHAN", "to_location": "SH-XUHUI", "sku": "TEE-M",
         "quantity": 5},
        format="json",
    ).json()["id"]  # fmt: skip

    own_ship = manager.post(f"/api/v1/transfers/{pk}/ship")
    early_receive = manager.post(f"/api/v1/transfers/{pk}/receive")
    stranger = staff_client(elsewhere, role=Role.MANAGER).post(f"/api/v1/transfers/{pk}/ship")
    listed = staff_client(elsewhere).get("/api/v1/transfers").json()["count"]
    operator = staff_client(dc, role=Role.OPERATOR)
    operator.post(f"/api/v1/transfers/{pk}/ship")
    sender_receive = operator.post(f"/api/v1/transfers/{pk}/receive")

    assert (own_ship.status_code, own_ship.json()["code"]) == (403, "transfer_not_allowed")
    assert (early_receive.status_code, early_receive.json()["code"]) == (409, "transfer_not_open")
    assert stranger.status_code == 404
    assert listed == 0
    assert (sender_receive.status_code, sender_receive.json()["code"]) == (
        403, "transfer_not_allowed",
    )  # fmt: skip
    assert Transfer.objects.get(pk=pk).status == Transfer.Status.IN_TRANSIT


def test_bad_requests_get_field_errors_and_nothing_is_written(chain):
    store, *_ = chain

    response = staff_client(store, role=Role.MANAGER).post(
        "/api/v1/transfers",
        {"from_location": "NOWHERE", "to_location": "SH-XUHUI", "sku": "NOPE", "quantity": 0},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"quantity"}
    assert not Transfer.objects.exists()


def test_the_same_flow_in_the_admin(client, chain):
    store, dc, _, sku = chain
    manager = store_staff(store, "xuhui-manager", role=Role.MANAGER)
    operator = store_staff(dc, "dc-operator", role=Role.OPERATOR)

    client.force_login(manager)
    client.post(
        "/admin/inventory/transfer/add/",
        {"to_location": store.pk, "from_location": dc.pk, "sku": "TEE-M", "quantity": 3,
         "note": "restock"},
    )  # fmt: skip
    transfer = Transfer.objects.get()
    refused = client.post(
        "/admin/inventory/transfer/",
        {"action": "ship_selected", "_selected_action": [transfer.pk]},
        follow=True,
    )
    client.force_login(operator)
    today = client.get("/admin/").context["today_rows"]
    client.post(
        "/admin/inventory/transfer/",
        {"action": "ship_selected", "_selected_action": [transfer.pk]},
    )
    client.force_login(manager)
    client.post(
        "/admin/inventory/transfer/",
        {"action": "receive_selected", "_selected_action": [transfer.pk]},
    )

    assert "Only staff of DC-KUNSHAN can ship it." in refused.content.decode()
    [to_ship] = [row for row in today if row["key"] == "inventory.transfers_outgoing"]
    assert to_ship["count"] == 1
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED
    assert (_on_hand(dc, sku), _on_hand(store, sku)) == (47, 5)
    assert_stock_consistent()

"""Ship-to-store in the admin: the store a transfer goes to receives it with a button."""

import pytest
from django.contrib.messages import get_messages

from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from inventory.models import StockLevel
from tests.admin.helpers import staff_in_admin
from tests.factories import JINGAN, KUNSHAN, place_order
from tests.fulfillment.factories import LocationFactory, SkuFactory, WarehouseFactory, stock_put

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shipped_transfer():
    store = LocationFactory(code="SH-JINGAN", **JINGAN)
    warehouse = WarehouseFactory(code="DC-KUNSHAN", **KUNSHAN)
    sku = SkuFactory(code="TEE-M")
    stock_put(location=warehouse, sku=sku, on_hand=5)
    order = place_order([(sku, 1)], method="pickup", location=store, ship_to_store=True)
    transfer = FulfillmentOrder.objects.get(order=order, kind="transfer")
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_pack):
        step(fulfillment_order=transfer)
    actions.fulfillment_ship(fulfillment_order=transfer, carrier="SF", tracking_number="SF1")
    return store, warehouse, sku, transfer


def _press(client, fo, transition: str):
    return client.post(
        f"/admin/fulfillment/fulfillmentorder/{fo.pk}/change/",
        {"_fsm_transition_to": transition},
        follow=True,
    )


def test_store_staff_see_the_incoming_transfer_and_receive_it(client, shipped_transfer):
    store, _, sku, transfer = shipped_transfer
    staff_in_admin(client, store, "jingan-associate")

    listed = client.get("/admin/fulfillment/fulfillmentorder/", {"queue": "incoming"})
    page = client.get(f"/admin/fulfillment/fulfillmentorder/{transfer.pk}/change/")
    response = _press(client, transfer, "receive")

    assert f"/{transfer.pk}/change/" in listed.content.decode()
    assert 'value="receive"' in page.content.decode()
    assert response.status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == "received"
    level = StockLevel.objects.get(location=store, sku=sku)
    assert (level.on_hand, level.reserved) == (1, 1)


def test_the_sending_warehouse_cannot_receive_its_own_transfer(client, shipped_transfer):
    _, warehouse, _, transfer = shipped_transfer
    staff_in_admin(client, warehouse, "kunshan-associate")

    response = _press(client, transfer, "receive")

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("only staff of the store it goes to" in m for m in messages)
    transfer.refresh_from_db()
    assert transfer.status == "shipped"


def test_staff_cannot_edit_a_fulfillment_order_in_the_form(client, shipped_transfer):
    store, _, _, transfer = shipped_transfer
    staff_in_admin(client, store, "jingan-editor")
    before = FulfillmentOrder.objects.get(pk=transfer.pk)

    client.post(
        f"/admin/fulfillment/fulfillmentorder/{transfer.pk}/change/",
        {"accept_by_0": "2099-01-01", "accept_by_1": "00:00:00", "status": "pending",
         "carrier": "someone else"},
    )  # fmt: skip

    after = FulfillmentOrder.objects.get(pk=transfer.pk)
    assert (after.accept_by, after.status, after.carrier) == (
        before.accept_by,
        before.status,
        before.carrier,
    )

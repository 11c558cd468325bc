"""Ship from store: accept, pick, pack, ship; and steps the status does not allow."""

import pytest

from inventory.models import StockLevel
from orders.models import OrderEvent
from tests.factories import assert_stock_consistent, place_order, timeline
from tests.fulfillment.factories import act, fulfillment_orders, level, sent_to, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "ada@example.com"
SHIP_DATA = {"carrier": "SF Express", "tracking_number": "SF1234567890"}


@pytest.fixture
def ship_order(xuhui, tee):
    """2 tees shipped from Xuhui, which holds 5."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    return order, fo


def test_ship_from_store_consumes_stock_fulfils_the_order_and_emails_tracking(
    ship_order, xuhui, tee, at_xuhui
):
    order, fo = ship_order

    statuses = [act(at_xuhui, fo, step).json()["status"] for step in ("accept", "pick", "pack")]
    response = act(at_xuhui, fo, "ship", **SHIP_DATA)

    assert statuses == ["accepted", "picked", "packed"]
    assert response.status_code == 200, response.content
    shipped = response.json()
    assert (shipped["status"], shipped["carrier"], shipped["tracking_number"]) == (
        "shipped",
        "SF Express",
        "SF1234567890",
    )
    assert level(xuhui, tee) == (3, 0)
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert order.lines.get().quantity_fulfilled == 2
    [message] = [m for m in sent_to(CUSTOMER) if "on its way" in m.subject]
    assert order.number in message.subject
    assert "Carrier: SF Express" in message.body
    assert "Tracking number: SF1234567890" in message.body
    kinds = timeline(order)
    for kind in ("released", "accepted", "picked", "packed", "shipped"):
        assert kind in kinds
    assert order.events.get(kind=OrderEvent.Kind.SHIPPED).actor == at_xuhui.user
    assert order.events.filter(kind="status_changed", data__to="fulfilled").exists()
    assert_stock_consistent()


def test_shipping_needs_a_carrier_and_a_tracking_number(ship_order, xuhui, tee, at_xuhui):
    _, fo = ship_order
    for step in ("accept", "pick", "pack"):
        act(at_xuhui, fo, step)

    response = act(at_xuhui, fo, "ship", carrier="SF Express")

    assert response.status_code == 400
    assert "tracking_number" in response.json()["errors"]
    fo.refresh_from_db()
    assert fo.status == "packed"
    assert level(xuhui, tee) == (5, 2)
    assert_stock_consistent()


def test_one_of_two_shipments_leaves_the_order_partially_fulfilled(
    xuhui, pudong, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=mug, on_hand=5)
    order = place_order([(tee, 1), (mug, 1)], method="ship")
    [at_x] = [fo for fo in fulfillment_orders(order) if fo.location == xuhui]

    for step in ("accept", "pick", "pack"):
        act(at_xuhui, at_x, step)
    act(at_xuhui, at_x, "ship", **SHIP_DATA)

    order.refresh_from_db()
    assert order.status == "partially_fulfilled"
    assert level(xuhui, tee) == (4, 0)
    assert level(pudong, mug) == (5, 1)
    assert_stock_consistent()


# --- steps the status does not allow ---------------------------------------------------------


def _advance(client, fo, steps):
    for step in steps:
        data = SHIP_DATA if step == "ship" else {}
        assert act(client, fo, step, **data).status_code == 200


@pytest.mark.parametrize(
    ("done", "attempt", "data"),
    [
        ([], "pick", {}),
        ([], "pack", {}),
        ([], "ship", SHIP_DATA),
        ([], "ready", {}),
        ([], "handover", {"code": "ABCDEF"}),
        (["accept"], "accept", {}),
        (["accept"], "pack", {}),
        (["accept", "pick"], "ready", {}),
        (["accept", "pick"], "ship", SHIP_DATA),
        (["accept", "pick", "pack"], "reject", {"reason": "damaged"}),
        (["accept", "pick", "pack", "ship"], "reject", {"reason": "damaged"}),
        (["accept", "pick", "pack", "ship"], "ship", SHIP_DATA),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_step_the_status_does_not_allow_is_409_and_changes_nothing(
    ship_order, at_xuhui, done, attempt, data
):
    order, fo = ship_order
    _advance(at_xuhui, fo, done)
    fo.refresh_from_db()
    before = (fo.status, fo.updated_at, timeline(order), list(StockLevel.objects.values()))

    response = act(at_xuhui, fo, attempt, **data)

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "transition_not_allowed"
    fo.refresh_from_db()
    assert (fo.status, fo.updated_at, timeline(order), list(StockLevel.objects.values())) == before
    assert_stock_consistent()


def test_pickup_orders_are_never_packed_or_shipped(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="pickup", location=xuhui)
    [fo] = fulfillment_orders(order)
    _advance(at_xuhui, fo, ["accept", "pick"])

    packed = act(at_xuhui, fo, "pack")
    shipped = act(at_xuhui, fo, "ship", **SHIP_DATA)

    assert [packed.status_code, shipped.status_code] == [409, 409]
    fo.refresh_from_db()
    assert fo.status == "picked"
    assert level(xuhui, tee) == (5, 1)
    assert_stock_consistent()


def test_unknown_action_is_404(ship_order, at_xuhui):
    _, fo = ship_order

    response = act(at_xuhui, fo, "teleport")

    assert response.status_code == 404
    fo.refresh_from_db()
    assert fo.status == "pending"


def test_a_shipped_order_can_no_longer_be_cancelled(ship_order, xuhui, tee, at_xuhui, web):
    order, fo = ship_order
    for step in ("accept", "pick", "pack"):
        act(at_xuhui, fo, step)
    act(at_xuhui, fo, "ship", **SHIP_DATA)

    whole = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")
    line = order.lines.get()
    part = web.post(
        f"/api/v1/orders/{order.number}/lines/{line.pk}/cancel", {"quantity": 1}, format="json"
    )

    assert (whole.status_code, whole.json()["code"]) == (409, "order_not_cancellable")
    assert (part.status_code, part.json()["code"]) == (409, "line_not_cancellable")
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert level(xuhui, tee) == (3, 0)
    assert_stock_consistent()

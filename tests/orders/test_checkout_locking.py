"""Checkout holds a stock row's lock only from its conditional UPDATE to the commit.

A hot SKU sells at most 1 / (time its row is locked) per second, so every other row of the
order, the outbox event and the recorded response are written before the stock UPDATE
(one statement for every line); after it run only, for a sale at the till the consumption
of what was just reserved, and for units that leave by carrier the claim of a ship slot of
the day (it must be atomic with the reservation, and locations are locked after stock rows
everywhere, so it cannot come first).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PEOPLES_SQUARE, channel_client, new_key
from tests.orders.factories import body, post_checkout, ship_to, stock_put

STOCK_UPDATE = 'UPDATE "inventory_stocklevel"'
# What stock_consume runs on the reservations a sale at the till takes out of the building.
CONSUME = (
    'SELECT "inventory_reservation"',
    'UPDATE "inventory_reservation"',
    'INSERT INTO "inventory_stockmovement"',
)
# The ship-capacity claim: one conditional UPDATE of the location's row of the day.
SHIP_SLOT = ("\n    UPDATE inventory_shipday SET orders = orders + 1",)

LEAVE_BY_CARRIER = {"ship", "ship-split", "ship-to-store"}
DELIVERIES = {
    "pickup": ("web", {"method": "pickup", "location": "SH-XUHUI"}),
    "curbside": ("web", {"method": "curbside", "location": "SH-XUHUI"}),
    "ship": ("web", ship_to(*PEOPLES_SQUARE)),
    "ship-split": ("web", ship_to(*PEOPLES_SQUARE)),
    "ship-to-store": ("web", {"method": "pickup", "location": "SH-XUHUI", "ship_to_store": True}),
    "carry_out": ("store", {"method": "carry_out", "location": "SH-XUHUI"}),
}


def _while_stock_is_locked(captured: CaptureQueriesContext) -> list[str]:
    """Statements from the first stock UPDATE on, savepoint bookkeeping left out."""
    sqls = [query["sql"] for query in captured.captured_queries]
    first = next(i for i, sql in enumerate(sqls) if sql.startswith(STOCK_UPDATE))
    return [sql for sql in sqls[first:] if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.fixture
def order_for(xuhui, pudong, kunshan, tee, mug):
    """The checkout body of a delivery, with stock where that delivery needs it."""

    def make(name: str) -> tuple[str, dict]:
        channel, delivery = DELIVERIES[name]
        if name == "ship-split":  # nobody has both: a tee from one place, mugs from another
            stock_put(location=pudong, sku=tee, on_hand=5)
            stock_put(location=kunshan, sku=mug, on_hand=5)
        elif name == "ship-to-store":  # the mugs come from the warehouse
            stock_put(location=xuhui, sku=tee, on_hand=5)
            stock_put(location=kunshan, sku=mug, on_hand=5)
        else:
            for location in (xuhui, kunshan):
                stock_put(location=location, sku=tee, on_hand=5)
                stock_put(location=location, sku=mug, on_hand=5)
        return channel, body([(tee, 1), (mug, 2)], channel=channel, delivery=delivery)

    return make


@pytest.mark.parametrize("name", list(DELIVERIES))
def test_nothing_but_stock_updates_runs_while_a_stock_row_is_locked(order_for, name, xuhui):
    channel, payload = order_for(name)
    client = channel_client(channel, location=xuhui)  # a store token is the till's
    client.get("/api/v1/orders")  # a token's last use is written at most once a minute

    with CaptureQueriesContext(connection) as captured:
        response = post_checkout(client, payload)

    assert response.status_code == 201, response.content
    locked = _while_stock_is_locked(captured)
    allowed = (STOCK_UPDATE,)
    if name == "carry_out":
        allowed += CONSUME
    if name in LEAVE_BY_CARRIER:
        allowed += SHIP_SLOT
    assert [sql[:80] for sql in locked if not sql.startswith(allowed)] == []
    # Both lines, at one location or two, in one statement.
    assert sum(sql.startswith(STOCK_UPDATE) for sql in locked) == 1


@pytest.mark.parametrize("name", list(DELIVERIES))
def test_checkout_answer_and_its_replay_are_the_order_as_get_shows_it(order_for, name, xuhui):
    channel, payload = order_for(name)
    client = channel_client(channel, location=xuhui)  # a store token is the till's
    key = new_key()

    placed = post_checkout(client, payload, key=key)
    replayed = post_checkout(client, payload, key=key)
    shown = client.get(f"/api/v1/orders/{placed.json()['number']}")

    assert (placed.status_code, replayed.status_code, shown.status_code) == (201, 201, 200)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert placed.json() == shown.json()
    assert replayed.json() == shown.json()
    if name in ("ship-split", "ship-to-store"):
        held = {r["location"] for line in shown.json()["lines"] for r in line["reservations"]}
        assert len(held) == 2


def test_checkout_answer_with_discounts_tenders_and_a_new_member_is_the_order_as_get_shows_it(
    order_for, xuhui
):
    _channel, payload = order_for("pickup")
    payload["enrol"] = True
    payload["customer"]["phone"] = "+8613800000000"
    payload["lines"][0]["discount"] = "5.5"
    payload["discounts"] = [{"code": "SUMMER10", "amount": "10"}]
    client = channel_client("web")

    placed = post_checkout(client, payload)
    shown = client.get(f"/api/v1/orders/{placed.json()['number']}")

    assert (placed.status_code, shown.status_code) == (201, 200), placed.content
    assert placed.json() == shown.json()
    assert placed.json()["customer"]["member_id"]
    assert placed.json()["discounts"] == [{"code": "SUMMER10", "amount": "10.00"}]
    assert [line["line_discount"] for line in placed.json()["lines"]] == ["5.50", "0.00"]

"""Checkout, order detail and cancel run a bounded number of SQL queries, however many lines.

A checkout takes every line's stock in one conditional UPDATE, so its count does not grow
with the lines at all. A cancel may add one conditional stock UPDATE per SKU and location.
Anything else growing with the lines is an N+1.
"""

import pytest

from common import outbox
from customers.points import points_adjust
from tests.factories import api_checkout, channel_client
from tests.orders.factories import (
    CustomerFactory,
    SkuFactory,
    body,
    pickup_at,
    post_checkout,
    ship_to,
    stock_put,
)

# Measured, for a customer's first order: token, SKUs, location, routing snapshot (with the
# ship capacity used today), customer (found, then created), order (no savepoint: a number
# already taken retries the whole transaction), lines, events, the outbox row with the key's
# record and its response (one statement, the body built from memory: no reads), the
# reservations with their ledger rows (one statement) and, last, the one stock UPDATE of
# every line. The
# key is looked up only when something fails. Counted inside the test's transaction: the
# checkout's own transaction is a savepoint there (two statements more).
CHECKOUT_5_LINES = 15
ORDER_DETAIL = 5  # token, reservations, order with customer, lines
# Cancel reads the order's tenders before its stock rows (a points tender's account is
# locked first, in checkout's order): one statement.
CANCEL_5_LINES = 28
# A 3-line order as production runs it, in its own transaction (BEGIN and COMMIT counted).
CHECKOUT_3_LINES = 13
# A pickup the store cannot fill alone: the routing snapshot reads the store first, then the
# sources of a transfer and their ship capacity (inventory/selectors.py), two reads more.
SHIP_TO_STORE_SNAPSHOT = 2


@pytest.fixture
def skus(xuhui, pudong, kunshan):
    """Twenty SKUs, each on the shelf at three locations."""
    items = [SkuFactory(code=f"QC-{n:02d}") for n in range(20)]
    for sku in items:
        for location in (xuhui, pudong, kunshan):
            stock_put(location=location, sku=sku, on_hand=50)
    return items


@pytest.fixture
def client(web):
    web.get("/api/v1/orders")  # a token's last use is written at most once a minute
    return web


def one_each(skus) -> list:
    return [(sku, 1) for sku in skus]


@pytest.mark.parametrize("method", ["pickup", "ship"])
def test_checkout_queries_do_not_grow_with_the_lines(
    client, skus, xuhui, method, django_assert_max_num_queries
):
    where = pickup_at(xuhui) if method == "pickup" else ship_to(31.23, 121.47)

    with django_assert_max_num_queries(CHECKOUT_5_LINES):
        api_checkout(client, one_each(skus[:5]), where)
    with django_assert_max_num_queries(CHECKOUT_5_LINES):
        api_checkout(client, one_each(skus[:10]), where)
    with django_assert_max_num_queries(CHECKOUT_5_LINES):
        api_checkout(client, one_each(skus[:20]), where)


def test_order_detail_queries_do_not_grow_with_the_lines(
    client, skus, xuhui, django_assert_max_num_queries
):
    order = api_checkout(client, one_each(skus[:20]), pickup_at(xuhui))

    with django_assert_max_num_queries(ORDER_DETAIL):
        response = client.get(f"/api/v1/orders/{order['number']}")

    assert len(response.json()["lines"]) == 20


def test_cancel_queries_grow_by_only_the_stock_update_of_each_extra_line(
    client, skus, xuhui, django_assert_max_num_queries
):
    five = api_checkout(client, one_each(skus[:5]), pickup_at(xuhui))
    ten = api_checkout(client, one_each(skus[5:15]), pickup_at(xuhui))

    with django_assert_max_num_queries(CANCEL_5_LINES):
        first = client.post(f"/api/v1/orders/{five['number']}/cancel", {}, format="json")
    with django_assert_max_num_queries(CANCEL_5_LINES + 5):
        second = client.post(f"/api/v1/orders/{ten['number']}/cancel", {}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)


STORE_TOKEN_SCOPE = 1

THREE_LINE_ORDERS = {
    "ship": ("web", ship_to(31.23, 121.47)),
    "pickup": ("web", {"method": "pickup", "location": "SH-XUHUI"}),
    "curbside": ("web", {"method": "curbside", "location": "SH-XUHUI"}),
    "carry_out": ("store", {"method": "carry_out", "location": "SH-XUHUI"}),
    "pickup_ship_to_store": (
        "web",
        {"method": "pickup", "location": "SH-XUHUI", "ship_to_store": True},
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", list(THREE_LINE_ORDERS))
def test_a_3_line_order_takes_at_most_13_statements_whatever_its_delivery(
    xuhui, pudong, kunshan, method, django_assert_max_num_queries, monkeypatch
):
    items = [SkuFactory(code=f"Q3-{n}") for n in range(3)]
    for sku in items:
        stock_put(location=kunshan, sku=sku, on_hand=50)
        # Ship-to-store: the store lacks the last SKU, which the warehouse sends there.
        if method != "pickup_ship_to_store" or sku is not items[-1]:
            stock_put(location=xuhui, sku=sku, on_hand=50)
    channel, delivery = THREE_LINE_ORDERS[method]
    client = channel_client(channel, location=xuhui)  # a store token is the till's
    client.get("/api/v1/orders")  # a token's last use is written at most once a minute
    # The release after commit is a worker's (in process it would run inside the request).
    queued = []
    monkeypatch.setattr(outbox, "_enqueue", lambda *event, more=(): queued.extend([event, *more]))

    extra = SHIP_TO_STORE_SNAPSHOT if method == "pickup_ship_to_store" else 0
    # A store token acts for its store: which store is read as for any member of staff.
    extra += STORE_TOKEN_SCOPE if channel == "store" else 0
    with django_assert_max_num_queries(CHECKOUT_3_LINES + extra):
        response = post_checkout(
            client, body([(sku, 1) for sku in items], channel=channel, delivery=delivery)
        )

    assert response.status_code == 201, response.content
    # The release, and the points the order will earn (a sale at the till earns at once).
    points = "orders.points_earn" if method == "carry_out" else "orders.points_pending"
    assert [topic for _event, topic in queued] == ["order.placed", points]
    held = {r["location"] for line in response.json()["lines"] for r in line["reservations"]}
    assert held == ({"SH-XUHUI", "DC-KUNSHAN"} if method == "pickup_ship_to_store" else held)


# Points paying part of a 3-line order: the tenders and their ledger rows (2 statements, as
# any authorised tender), the balance's conditional UPDATE, the lots locked and taken (2),
# the redemption and its lot allocations (2).
POINTS_TENDER = 7


@pytest.mark.django_db(transaction=True)
def test_points_add_at_most_their_own_statements_to_a_3_line_order(
    xuhui, django_assert_max_num_queries, monkeypatch
):
    items = [SkuFactory(code=f"QP-{n}") for n in range(3)]
    for sku in items:
        stock_put(location=xuhui, sku=sku, on_hand=50)
    ada = CustomerFactory(email="ada@example.com")
    for n in range(3):  # three lots to take from
        points_adjust(customer=ada, points=100, reason="welcome", actor=None, source=f"qp/{n}")
    client = channel_client("web")
    client.get("/api/v1/orders")
    monkeypatch.setattr(outbox, "_enqueue", lambda *event, more=(): None)
    payload = body(
        [(sku, 1) for sku in items], delivery={"method": "pickup", "location": "SH-XUHUI"}
    )
    # 3 x 99.00 picked up: 250 points pay 2.50 (taking from all three lots), a card the rest.
    payload["payments"] = [
        {"method": "card", "gateway": "dummy", "reference": "auth_qp", "amount": "294.50"},
        {"method": "points", "points": 250},
    ]

    with django_assert_max_num_queries(CHECKOUT_3_LINES + POINTS_TENDER):
        response = post_checkout(client, payload)

    assert response.status_code == 201, response.content
    assert [p["method"] for p in response.json()["payments"]] == ["card", "points"]

"""Checkout, order detail and cancel run a bounded number of SQL queries, however many lines.

The one query a line may add is its conditional stock UPDATE (one per SKU and location, by
design: that row is the unit of locking). Anything else growing with the lines is an N+1.
"""

import pytest

from tests.orders.factories import SkuFactory, body, pickup_at, post_checkout, ship_to, stock_put

# Measured, for a customer's first order: token, the key (looked up by the view before it
# validates, so a retry replays whatever changed since, and again by the service, which
# callers other than the view rely on), SKUs, location, routing snapshot (with the ship
# capacity used today), new customer, order (in its own savepoint, so that a number already
# taken can be drawn again), lines, events, outbox, the key's record and its response (built
# from memory: no reads), the order's tenders (one multi-row INSERT of its payments),
# reservations, ledger and, last, the 5 stock UPDATEs.
CHECKOUT_5_LINES = 32
ORDER_DETAIL = 5  # token, reservations, order with customer, lines
CANCEL_5_LINES = 27


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


def _checkout(client, skus, count: int, delivery: dict) -> dict:
    response = post_checkout(client, body([(sku, 1) for sku in skus[:count]], delivery=delivery))
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("method", ["pickup", "ship"])
def test_checkout_queries_grow_by_only_the_stock_update_of_each_extra_line(
    client, skus, xuhui, method, django_assert_max_num_queries
):
    where = pickup_at(xuhui) if method == "pickup" else ship_to(31.23, 121.47)

    with django_assert_max_num_queries(CHECKOUT_5_LINES):
        _checkout(client, skus, 5, where)
    with django_assert_max_num_queries(CHECKOUT_5_LINES + 5):
        _checkout(client, skus, 10, where)
    with django_assert_max_num_queries(CHECKOUT_5_LINES + 15):
        _checkout(client, skus, 20, where)


def test_order_detail_queries_do_not_grow_with_the_lines(
    client, skus, xuhui, django_assert_max_num_queries
):
    order = _checkout(client, skus, 20, pickup_at(xuhui))

    with django_assert_max_num_queries(ORDER_DETAIL):
        response = client.get(f"/api/v1/orders/{order['number']}")

    assert len(response.json()["lines"]) == 20


def test_cancel_queries_grow_by_only_the_stock_update_of_each_extra_line(
    client, skus, xuhui, django_assert_max_num_queries
):
    five = _checkout(client, skus, 5, pickup_at(xuhui))
    ten = _checkout(client, skus[5:], 10, pickup_at(xuhui))

    with django_assert_max_num_queries(CANCEL_5_LINES):
        first = client.post(f"/api/v1/orders/{five['number']}/cancel", {}, format="json")
    with django_assert_max_num_queries(CANCEL_5_LINES + 5):
        second = client.post(f"/api/v1/orders/{ten['number']}/cancel", {}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)

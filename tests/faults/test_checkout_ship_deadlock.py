"""A customer's checkout paid with points racing the shipment (or the cancel) of their other
points-paid order on the same stock row: checkout holds the points account and wants the
stock row; the shipment consumes that stock row, then captures the points tender (a cancel
releases the row, then voids the tender), which moves the account. Both take the account
before the stock, so neither waits for the other in a circle: both succeed, with no retry
(one attempt each)."""

import threading

import psycopg
import pytest
from django.db import connection

from customers.models import Customer
from customers.points import points_adjust
from customers.selectors import customer_points_summary
from orders.models import Order
from payments.models import Payment
from tests.conftest import database_url_for_processes, wait_until
from tests.factories import new_key, staff_client
from tests.faults.invariants import assert_invariants_clean
from tests.fulfillment.factories import act, fulfillment_orders, level, stock_put
from tests.orders.factories import body, post_checkout, ship_to

pytestmark = pytest.mark.django_db(transaction=True)

ADA = "ada@example.com"
NEAR_XUHUI = ship_to(31.19, 121.43)
SHIP = {"carrier": "SF Express", "tracking_number": "SF1"}


def _points_order(tee) -> dict:
    """One tee shipped (99.00 + 15.00 shipping): 100 points pay 1.00, the card the rest."""
    payments = [
        {"method": "card", "gateway": "dummy", "reference": f"auth_{new_key()}",
         "amount": "113.00"},
        {"method": "points", "points": 100},
    ]  # fmt: skip
    return body([(tee, 1)], delivery=NEAR_XUHUI, email=ADA) | {"payments": payments}


def _waiting_pids(monitor: psycopg.Connection) -> set[int]:
    """The sessions of the test database waiting for a lock now."""
    rows = monitor.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchall()
    return {pid for (pid,) in rows}


def _in_thread(answers: dict, name: str, call) -> threading.Thread:
    def run() -> None:
        try:
            answers[name] = call()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


# What the other order does, and then: its status, what its points tender captured, on
# hand and reserved of the tee, the customer's points held and balance (500 given, 100 held
# by each order; a shipment spends its 100 and earns 98 on the 98.00 the card paid for the
# tee, a cancel gives its 100 back).
ACTIONS = {
    "ship": (Order.Status.FULFILLED, 1, (4, 1), (100, 300 + 98)),
    "cancel": (Order.Status.CANCELLED, 0, (5, 1), (100, 400)),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_checkout_with_points_and_the_other_points_order_leaving_both_succeed(
    action, settings, web, xuhui, tee
):
    settings.DB_CONFLICT_ATTEMPTS = 1  # a deadlock would reach the caller: none may happen
    stock_put(location=xuhui, sku=tee, on_hand=5)
    customer = Customer.objects.create(email=ADA)
    points_adjust(customer=customer, points=500, reason="welcome", actor=None, source="adj/1")
    at_xuhui = staff_client(xuhui)
    first = post_checkout(web, _points_order(tee))
    assert first.status_code == 201, first.content
    number = first.json()["number"]
    [fo] = fulfillment_orders(Order.objects.get(number=number))
    for step in ("accept", "pick", "pack"):
        assert act(at_xuhui, fo, step).status_code == 200
    leave = {
        "ship": lambda: act(at_xuhui, fo, "ship", **SHIP),
        "cancel": lambda: web.post(f"/api/v1/orders/{number}/cancel", {}, format="json"),
    }[action]

    # The test holds the first order's payment rows: the shipment (or cancel) stops after
    # changing the stock row, before it moves the tenders; the second checkout then runs
    # into it.
    url = database_url_for_processes()
    blocker, monitor = psycopg.connect(url), psycopg.connect(url, autocommit=True)
    answers: dict = {}
    threads = []
    try:
        held = blocker.execute(
            "SELECT id FROM payments_payment WHERE demand = %s ORDER BY id FOR UPDATE", [number]
        ).fetchall()
        assert len(held) == 2
        threads.append(_in_thread(answers, action, leave))
        leaving = wait_until(lambda: _waiting_pids(monitor), timeout=30)
        second = _points_order(tee)
        threads.append(_in_thread(answers, "checkout", lambda: post_checkout(web, second)))
        wait_until(lambda: _waiting_pids(monitor) - leaving, timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
        monitor.close()
        for thread in threads:
            thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert answers[action].status_code == 200, answers[action].content
    assert answers["checkout"].status_code == 201, answers["checkout"].content
    other = answers["checkout"].json()["number"]
    status, captured, stock, points = ACTIONS[action]
    assert Order.objects.get(number=number).status == status
    assert Payment.objects.get(demand=number, method="points").captured == captured
    assert Order.objects.get(number=other).status == Order.Status.PROCESSING
    assert level(xuhui, tee) == stock
    summary = customer_points_summary(customer)
    assert (summary["held"], summary["balance"]) == points
    assert_invariants_clean()

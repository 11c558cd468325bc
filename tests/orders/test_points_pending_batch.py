"""Pending points of many orders are written by one batch in a bounded number of statements,
the same entries as the orders' events written one by one, and once per source."""

import pytest

from common import outbox
from common.models import OutboxEvent
from customers.models import PointsEntry
from orders.handlers import points_pending, points_pending_many
from orders.services.lifecycle import order_line_cancel
from orders.services.points import TOPIC_PENDING
from tests.factories import assert_ledgers_clean, place_order
from tests.orders.factories import stock_put

pytestmark = pytest.mark.django_db

# Statements of a batch, whatever its size, in the delivery's transaction: the orders, their
# lines, their tenders, the accounts created when missing, then locked, what the orders
# already have pending, the new entries.
POINTS_PENDING_BATCH = 7


@pytest.fixture
def held_back(monkeypatch):
    """Deliveries queued after commit, kept here instead of run."""
    monkeypatch.setattr(outbox, "_enqueue", lambda *delivery, more=(): None)


def _orders(count: int, *, xuhui, tee, mug, customers: int | None = None):
    stock_put(location=xuhui, sku=tee, on_hand=3 * count)
    stock_put(location=xuhui, sku=mug, on_hand=3 * count)
    return [
        place_order(
            [(tee, 2), (mug, 1)],
            method="ship",
            email=f"buyer{n % (customers or count)}@example.com",
        )
        for n in range(count)
    ]


def _waiting() -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(topic=TOPIC_PENDING, processed_at__isnull=True).order_by("pk")
    )


def _entries() -> list[tuple]:
    return sorted(
        PointsEntry.objects.values_list(
            "customer__email", "demand", "source", "kind", "pending", "rate", "multiplier", "value"
        )
    )


@pytest.mark.parametrize("count", [1, 20])
def test_the_pending_points_of_a_batch_take_a_bounded_number_of_statements(
    count, held_back, xuhui, tee, mug, django_assert_max_num_queries
):
    orders = _orders(count, xuhui=xuhui, tee=tee, mug=mug)
    events = _waiting()

    with django_assert_max_num_queries(POINTS_PENDING_BATCH):
        points_pending_many(events)

    pending = PointsEntry.objects.filter(kind=PointsEntry.Kind.EARN_PENDING)
    assert sorted(pending.values_list("demand", flat=True)) == sorted(o.number for o in orders)
    assert all(entry.pending > 0 for entry in pending)


def _cancel_a_unit_of_each(orders) -> None:
    for order in orders:
        line = order.lines.order_by("pk").first()
        order_line_cancel(order=order, line_id=line.pk, quantity=1, reason="out of stock")


def _events_of(orders) -> list[OutboxEvent]:
    numbers = {order.number for order in orders}
    return [event for event in _waiting() if event.payload["number"] in numbers]


def _entries_of(order) -> list[tuple]:
    return list(
        PointsEntry.objects.filter(demand=order.number)
        .order_by("pk")
        .values_list("kind", "pending", "rate", "multiplier", "value", "reason")
    )


def test_a_batch_writes_what_the_events_write_one_by_one(held_back, xuhui, tee, mug):
    # Two alike groups of orders (each of the same three customers): the events of one run
    # one by one, those of the other in batches. Their pending is written, then a unit of
    # each is cancelled; the last order of each group waits until after the cancel, so
    # both its events are in one batch.
    orders = _orders(8, xuhui=xuhui, tee=tee, mug=mug, customers=4)
    one, many = orders[0:3] + orders[6:7], orders[3:6] + orders[7:8]
    for event in _events_of(one[:3]):
        points_pending(event)
    points_pending_many(_events_of(many[:3]))
    _cancel_a_unit_of_each(orders)
    # Every event of each group again (the first ones replayed), the cancels' with them.
    for event in _events_of(one):
        points_pending(event)
    points_pending_many(_events_of(many))

    assert [_entries_of(o) for o in many] == [_entries_of(o) for o in one]
    kinds = [entry[0] for order in one for entry in _entries_of(order)]
    assert kinds.count(PointsEntry.Kind.EARN_PENDING) == 4
    assert kinds.count(PointsEntry.Kind.REVERSE) == 3  # the late one was written as it stood
    assert_ledgers_clean()


def test_a_replayed_batch_writes_nothing_twice(held_back, xuhui, tee, mug):
    orders = _orders(4, xuhui=xuhui, tee=tee, mug=mug, customers=2)
    _cancel_a_unit_of_each(orders[:2])
    events = _waiting()
    points_pending_many(events)
    written = _entries()

    points_pending_many(events)
    points_pending_many([*events, *events])
    for event in events:
        points_pending(event)

    assert _entries() == written
    assert_ledgers_clean()

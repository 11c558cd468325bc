"""A backlog of placed orders is released in one transaction, in a bounded number of queries.

The release of each order is queued after its checkout commits; here those deliveries are
held back (as when the workers fall behind at peak), so the placed orders wait, and one
delivery takes them all.
"""

import pytest

from common import outbox
from common.models import OutboxEvent
from common.tasks import outbox_deliver
from customers.models import PointsEntry
from orders.models import Order, OrderEvent
from tests.factories import assert_stock_consistent, place_order, staff_member
from tests.fulfillment.factories import fulfillment_orders, level
from tests.inventory.factories import stock_put

pytestmark = pytest.mark.django_db(transaction=True)

# Statements of one batch, whatever its size: the waiting events' attempts counted, BEGIN,
# the events claimed (their rows locked and marked processed), the orders locked, those
# already released, their reservations, their locations, the fulfillment orders, the orders'
# status, the lines with the events and the outbox rows, COMMIT.
RELEASE_BATCH = 11
# The same for announcing released fulfillment orders to their stores: the attempts counted,
# BEGIN, the events claimed, the fulfillment orders with their order, customer and location,
# their lines, the staff of every location, the timeline events, COMMIT.
ANNOUNCE_BATCH = 8


@pytest.fixture
def held_back(monkeypatch):
    """Deliveries queued after commit, kept here instead of run."""
    queued: list[tuple] = []
    monkeypatch.setattr(
        outbox, "_enqueue", lambda *delivery, more=(): queued.extend([delivery, *more])
    )
    return queued


def _backlog(count: int, *, xuhui, pudong, kunshan, tee, mug) -> list[Order]:
    stock_put(location=xuhui, sku=tee, on_hand=count)
    stock_put(location=kunshan, sku=mug, on_hand=count)  # a split: two locations each
    stock_put(location=pudong, sku=tee, on_hand=count)
    return [place_order([(tee, 1), (mug, 1)], method="ship") for _ in range(count)]


@pytest.mark.parametrize("count", [1, 12])
def test_a_backlog_of_placed_orders_is_released_by_one_batch_in_bounded_queries(
    count, held_back, xuhui, pudong, kunshan, tee, mug, django_assert_max_num_queries
):
    orders = _backlog(count, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    placed = [delivery for delivery in held_back if delivery[1] == "order.placed"]
    assert len(placed) == count
    held_back.clear()

    with django_assert_max_num_queries(RELEASE_BATCH):
        released = outbox.outbox_process_batch(topic="order.placed", event_id=placed[0][0])

    assert released == count
    for order in orders:
        order.refresh_from_db()
        assert order.status == Order.Status.PROCESSING
        assert {fo.location.code for fo in fulfillment_orders(order)} == {
            "SH-XUHUI",
            "DC-KUNSHAN",
        }
        kinds = list(order.events.values_list("kind", flat=True))
        assert kinds.count(OrderEvent.Kind.RELEASED) == 2
        assert kinds.count(OrderEvent.Kind.STATUS_CHANGED) == 1
    events = OutboxEvent.objects.filter(topic="order.placed")
    assert {(e.attempts, e.processed_at is not None) for e in events} == {(1, True)}
    # Each fulfillment order is announced to its store after commit.
    assert [topic for _, topic in held_back] == ["fulfillment.released"] * (2 * count)
    assert level(xuhui, tee) == (count, count)
    assert_stock_consistent()


def test_the_delivery_of_one_placed_order_takes_the_others_waiting_with_it(
    held_back, xuhui, pudong, kunshan, tee, mug
):
    orders = _backlog(5, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    [last_id, topic] = [d for d in held_back if d[1] == "order.placed"][-1]

    assert outbox_deliver.apply(args=[last_id, topic]).result is True

    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.PROCESSING}
    # The others' own deliveries come later and find nothing to do, counting nothing.
    for other in OutboxEvent.objects.filter(topic="order.placed").exclude(pk=last_id):
        assert outbox_deliver.apply(args=[other.pk, topic]).result is False
    assert set(OutboxEvent.objects.filter(topic="order.placed").values_list("attempts")) == {(1,)}
    assert all(len(fulfillment_orders(order)) == 2 for order in orders)


def test_a_batch_that_fails_is_processed_one_by_one_within_the_same_attempt(
    held_back, xuhui, pudong, kunshan, tee, mug, monkeypatch
):
    orders = _backlog(3, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    [first_id, topic] = next(d for d in held_back if d[1] == "order.placed")

    def broken(events):
        raise RuntimeError("the batch handler is broken")

    monkeypatch.setitem(outbox._batch_handlers, topic, broken)

    assert outbox.outbox_process_batch(topic=topic, event_id=first_id) == 3

    assert all(len(fulfillment_orders(order)) == 2 for order in orders)
    # One delivery, one attempt each: the failed batch counted it, the one-by-one run is it.
    assert set(OutboxEvent.objects.filter(topic=topic).values_list("attempts", "last_error")) == {
        (1, "")
    }


def test_a_backlog_of_released_fulfillment_orders_is_announced_by_one_delivery(
    held_back, xuhui, pudong, kunshan, tee, mug
):
    orders = _backlog(4, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    [first_id, topic] = next(d for d in held_back if d[1] == "order.placed")
    outbox.outbox_process_batch(topic=topic, event_id=first_id)
    released = [d for d in held_back if d[1] == "fulfillment.released"]
    assert len(released) == 8

    assert outbox_deliver.apply(args=list(released[0])).result is True

    for order in orders:
        alerts = order.events.filter(kind=OrderEvent.Kind.NOTIFIED, data__template="store_new")
        assert sorted(alerts.values_list("location__code", flat=True)) == [
            "DC-KUNSHAN",
            "SH-XUHUI",
        ]
    announced = OutboxEvent.objects.filter(topic="fulfillment.released")
    assert {(e.attempts, e.processed_at is not None) for e in announced} == {(1, True)}


@pytest.mark.parametrize("count", [1, 10])
def test_released_fulfillment_orders_are_announced_by_one_batch_in_bounded_queries(
    count, held_back, xuhui, pudong, kunshan, tee, mug, django_assert_max_num_queries, mailoutbox
):
    staff_member(xuhui)
    staff_member(kunshan)
    orders = _backlog(count, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    [first_id, topic] = next(d for d in held_back if d[1] == "order.placed")
    outbox.outbox_process_batch(topic=topic, event_id=first_id)
    [first_id, topic] = next(d for d in held_back if d[1] == "fulfillment.released")

    with django_assert_max_num_queries(ANNOUNCE_BATCH):
        announced = outbox.outbox_process_batch(topic=topic, event_id=first_id)

    assert announced == 2 * count
    assert len(mailoutbox) == 2 * count
    for order in orders:
        alerts = order.events.filter(kind=OrderEvent.Kind.NOTIFIED, data__template="store_new")
        assert sorted(alerts.values_list("location__code", "data__recipients")) == [
            ("DC-KUNSHAN", 1),
            ("SH-XUHUI", 1),
        ]


def test_the_pending_points_of_a_backlog_are_written_by_one_delivery(
    held_back, xuhui, pudong, kunshan, tee, mug
):
    orders = _backlog(4, xuhui=xuhui, pudong=pudong, kunshan=kunshan, tee=tee, mug=mug)
    [first_id, topic] = next(d for d in held_back if d[1] == "orders.points_pending")

    assert outbox_deliver.apply(args=[first_id, topic]).result is True

    pending = PointsEntry.objects.filter(kind=PointsEntry.Kind.EARN_PENDING)
    assert sorted(pending.values_list("demand", flat=True)) == sorted(o.number for o in orders)
    assert all(entry.pending > 0 for entry in pending)
    events = OutboxEvent.objects.filter(topic=topic)
    assert {(e.attempts, e.processed_at is not None) for e in events} == {(1, True)}

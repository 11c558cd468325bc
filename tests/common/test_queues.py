"""Two Celery queues: a flood of customer messages never holds up releases and captures."""

import pytest

from common.models import OutboxEvent
from config.celery import NOTIFICATION_TOPICS, app, queue_names
from fulfillment.models import FulfillmentOrder
from tests.conftest import wait_until
from tests.factories import api_checkout
from tests.inventory.factories import stock_put
from tests.orders.factories import pickup_at

ORDER_TOPICS = [
    "order.placed",
    "fulfillment.rejected",
    "payments.transaction_execute",
    "orders.points_pending",
    "orders.points_earn",
]


def _queue_of(name: str, *args, **kwargs) -> str:
    return app.amqp.router.route({}, name, args=args, kwargs=kwargs)["queue"].name


@pytest.mark.parametrize("topic", sorted(NOTIFICATION_TOPICS))
def test_outbox_deliveries_of_messages_go_to_the_notifications_queue(topic):
    assert _queue_of("common.tasks.outbox_deliver", 1, topic) == queue_names()[1]


@pytest.mark.parametrize("topic", ORDER_TOPICS)
def test_outbox_deliveries_an_order_waits_for_go_to_the_orders_queue(topic):
    assert _queue_of("common.tasks.outbox_deliver", 1, topic) == queue_names()[0]


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("customers.tasks.notify_expiring_points", 1),
        ("customers.tasks.expire_points", 0),
        ("common.tasks.outbox_sweep", 0),
        ("common.tasks.purge_idempotency_keys", 0),
        ("fulfillment.tasks.expire_pickups", 0),
        ("fulfillment.tasks.escalate_unaccepted", 0),
        ("fulfillment.tasks.refresh_rejection_rates", 0),
        ("orders.tasks.close_fulfilled_orders", 0),
    ],
)
def test_periodic_tasks_go_to_their_queue(task, queue):
    assert _queue_of(task) == queue_names()[queue]


def test_every_registered_topic_is_known_to_the_router():
    from common.outbox import _handlers

    app.loader.import_default_modules()
    production = {topic for topic in _handlers if not topic.startswith("test.")}

    assert production <= NOTIFICATION_TOPICS | set(ORDER_TOPICS), production - (
        NOTIFICATION_TOPICS | set(ORDER_TOPICS)
    )


@pytest.mark.django_db
def test_an_event_requeued_by_the_sweeper_goes_to_the_queue_of_its_topic():
    ready = OutboxEvent.objects.create(topic="fulfillment.ready", payload={})
    placed = OutboxEvent.objects.create(topic="order.placed", payload={})

    assert _queue_of("common.tasks.outbox_deliver", ready.pk) == queue_names()[1]
    assert _queue_of("common.tasks.outbox_deliver", placed.pk) == queue_names()[0]


def test_queue_names_follow_the_default_queue_of_a_deployment_or_a_test_run():
    assert queue_names("orders") == ("orders", "notifications")
    assert queue_names("shop2-orders") == ("shop2-orders", "shop2-notifications")
    assert queue_names("test-1a2b") == ("test-1a2b", "test-1a2b.notifications")


@pytest.mark.worker
def test_orders_are_released_while_notifications_pile_up_unconsumed(
    orders_worker, redis_client, web, xuhui, tee
):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    numbers = [api_checkout(web, [(tee, 1)], pickup_at(xuhui))["number"] for _ in range(3)]

    released = wait_until(
        lambda: FulfillmentOrder.objects.filter(order__number__in=numbers).count() == 3
    )
    assert released
    # Each release announced the pickup to the store: the delivery of those messages (one
    # for the topic while it waits unstarted, which takes all of them) waits on its queue.
    wait_until(lambda: redis_client.llen(orders_worker.notifications) >= 1)
    assert (
        OutboxEvent.objects.filter(topic="fulfillment.released", processed_at__isnull=True).count()
        == 3
    )

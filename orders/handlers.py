"""Outbox handlers of orders: points earned and pending, after the commit that caused them."""

from decimal import Decimal

from common.models import OutboxEvent
from common.outbox import outbox_batch_handler, outbox_handler
from orders.models import Order
from orders.services.points import (
    TOPIC_EARN,
    TOPIC_PENDING,
    order_points_earn,
    order_points_pending,
)


@outbox_handler(TOPIC_PENDING)
def points_pending(event: OutboxEvent) -> None:
    order_points_pending(number=event.payload["number"], source=event.payload["source"])


@outbox_batch_handler(TOPIC_PENDING)
def points_pending_many(events: list[OutboxEvent]) -> None:
    """Many orders' pending points in one transaction; taken customer by customer (their
    accounts locked in id order), so two batches never wait on each other in a circle."""
    customer_of = dict(
        Order.objects.filter(number__in=[e.payload["number"] for e in events]).values_list(
            "number", "customer_id"
        )
    )
    for event in sorted(events, key=lambda e: (customer_of.get(e.payload["number"], 0), e.pk)):
        points_pending(event)


@outbox_handler(TOPIC_EARN)
def points_earn(event: OutboxEvent) -> None:
    payload = event.payload
    order_points_earn(number=payload["number"], key=payload["key"], value=Decimal(payload["value"]))

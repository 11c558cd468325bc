"""Outbox handlers of orders: points earned and pending, after the commit that caused them."""

from decimal import Decimal

from common.models import OutboxEvent
from common.outbox import outbox_batch_handler, outbox_handler
from orders.services.points import (
    TOPIC_EARN,
    TOPIC_PENDING,
    order_points_earn,
    order_points_pending_many,
)


@outbox_handler(TOPIC_PENDING)
def points_pending(event: OutboxEvent) -> None:
    points_pending_many([event])


@outbox_batch_handler(TOPIC_PENDING)
def points_pending_many(events: list[OutboxEvent]) -> None:
    """Many orders' pending points in one transaction and a constant number of statements,
    oldest event first (their accounts locked together in id order, so two batches never
    wait on each other in a circle)."""
    order_points_pending_many(
        wanted=[
            (event.payload["number"], event.payload["source"])
            for event in sorted(events, key=lambda e: e.pk)
        ]
    )


@outbox_handler(TOPIC_EARN)
def points_earn(event: OutboxEvent) -> None:
    payload = event.payload
    order_points_earn(number=payload["number"], key=payload["key"], value=Decimal(payload["value"]))

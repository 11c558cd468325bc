"""Outbox handlers of orders: points earned and pending, after the commit that caused them."""

from decimal import Decimal

from common.models import OutboxEvent
from common.outbox import outbox_handler
from orders.services.points import (
    TOPIC_EARN,
    TOPIC_PENDING,
    order_points_earn,
    order_points_pending,
)


@outbox_handler(TOPIC_PENDING)
def points_pending(event: OutboxEvent) -> None:
    order_points_pending(number=event.payload["number"], source=event.payload["source"])


@outbox_handler(TOPIC_EARN)
def points_earn(event: OutboxEvent) -> None:
    payload = event.payload
    order_points_earn(number=payload["number"], key=payload["key"], value=Decimal(payload["value"]))

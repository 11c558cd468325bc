"""Outbox handlers of payments: the gateway is called after the commit that asked for it."""

from common.models import OutboxEvent
from common.outbox import outbox_handler
from payments.services import TOPIC_EXECUTE, payment_transaction_execute


@outbox_handler(TOPIC_EXECUTE)
def transaction_execute(event: OutboxEvent) -> None:
    payment_transaction_execute(
        transaction_id=event.payload["transaction_id"], attempt=event.attempts
    )

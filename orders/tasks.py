from celery import shared_task

from orders.services.lifecycle import order_close_due


@shared_task
def close_fulfilled_orders(batch_size: int = 500) -> int:
    """Close fulfilled orders past the return window, one batch per transaction."""
    closed = 0
    while True:
        done = order_close_due(limit=batch_size)
        closed += done
        if done < batch_size:  # none left, or the rest is locked by another worker
            return closed

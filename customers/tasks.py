"""Periodic work of the loyalty accounts: thin tasks over `customers.points`."""

from celery import shared_task

from customers.points import points_expire_due, points_expiring_notify


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_points() -> int:
    """Expire what is left of every lot past its date, batch after batch."""
    total = 0
    while done := points_expire_due():
        total += done
    return total


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notify_expiring_points() -> int:
    total = 0
    while done := points_expiring_notify():
        total += done
    return total

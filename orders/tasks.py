from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders.models import IdempotencyRecord
from orders.services.lifecycle import order_close_due


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than OMS_IDEMPOTENCY_TTL_HOURS (at least a day)."""
    hours = max(24, settings.OMS_IDEMPOTENCY_TTL_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task
def close_fulfilled_orders(batch_size: int = 500) -> int:
    """Close fulfilled orders past the return window, one batch per transaction."""
    closed = 0
    while True:
        done = order_close_due(limit=batch_size)
        closed += done
        if done < batch_size:  # none left, or the rest is locked by another worker
            return closed

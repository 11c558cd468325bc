from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders.models import IdempotencyRecord


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than OMS_IDEMPOTENCY_TTL_HOURS (at least a day)."""
    hours = max(24, settings.OMS_IDEMPOTENCY_TTL_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted

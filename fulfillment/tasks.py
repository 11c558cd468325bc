"""Periodic fulfillment work. A batch skips rows another transaction holds right now; each
item is then locked again and re-checked by its idempotent service in a transaction of its
own, so two workers running at once never do the same work twice."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from fulfillment import selectors
from fulfillment.models import FulfillmentOrder
from fulfillment.services.deadlines import fulfillment_escalate, fulfillment_expire
from fulfillment.services.rejection_rates import fulfillment_rejection_rates_refresh

logger = logging.getLogger(__name__)
BATCH = 200


def _claim(queryset) -> list[FulfillmentOrder]:
    with transaction.atomic():
        return list(queryset.select_for_update(skip_locked=True).order_by("pk")[:BATCH])


@shared_task
def expire_pickups() -> int:
    """Pickups not collected within the location's hold period go back to the shelf."""
    due = FulfillmentOrder.objects.filter(
        status=FulfillmentOrder.Status.READY_FOR_PICKUP, pickup_deadline__lt=timezone.now()
    )
    expired = [fo for fo in _claim(due) if fulfillment_expire(fulfillment_order=fo)]
    for fo in expired:
        logger.info("pickup %s of order %s expired", fo.pk, fo.order.number)
    return len(expired)


@shared_task
def escalate_unaccepted() -> int:
    """Fulfillment orders not accepted within their location's SLA: shipments and
    transfers are re-routed, pickups are brought to their managers' attention."""
    escalated = [
        fo
        for fo in _claim(selectors.overdue_for_acceptance(FulfillmentOrder.objects.all()))
        if fulfillment_escalate(fulfillment_order=fo)
    ]
    for fo in escalated:
        logger.info("fulfillment order %s of order %s escalated", fo.pk, fo.order.number)
    return len(escalated)


@shared_task
def refresh_rejection_rates() -> int:
    """Daily: recent rejection rates forget what happened more than a week ago."""
    return fulfillment_rejection_rates_refresh()

"""Periodic fulfillment work. Batches are claimed with SKIP LOCKED; each item is its own
transaction in an idempotent service, so two workers never do the same work twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from fulfillment.services.actions import fulfillment_escalate, fulfillment_expire
from stores.models import Location

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
    """Fulfillment orders not accepted within their location's SLA are re-routed."""
    # Only overdue ones are claimed: a long queue still within its SLA must not fill the
    # batch and starve overdue work of locations with a shorter SLA.
    now = timezone.now()
    overdue = Q(pk__in=[])
    for minutes in set(Location.objects.values_list("accept_sla_minutes", flat=True)):
        overdue |= Q(
            location_id__in=Location.objects.filter(accept_sla_minutes=minutes).values("pk"),
            created_at__lt=now - timedelta(minutes=minutes),
        )
    pending = FulfillmentOrder.objects.filter(overdue, status=FulfillmentOrder.Status.PENDING)
    escalated = [fo for fo in _claim(pending) if fulfillment_escalate(fulfillment_order=fo)]
    for fo in escalated:
        logger.info("fulfillment order %s of order %s escalated", fo.pk, fo.order.number)
    return len(escalated)

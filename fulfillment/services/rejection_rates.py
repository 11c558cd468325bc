"""Each location's recent rejection rate, which the routing engine ranks it down by.

Kept on the location (through `stores` services) from the fulfillment orders it was given
over the last `REJECTION_WINDOW`: after each accept or reject there, and daily for all.
"""

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from stores.models import Location
from stores.services import location_update_rejection_rate

REJECTION_WINDOW = timedelta(days=7)


def rejection_rate_refresh_on_commit(*, location_id: int) -> None:
    """After commit, in its own short transaction: an UPDATE of the location row here would
    hold it to the end of this one, and checkouts claim their ship slot on that row."""
    transaction.on_commit(partial(fulfillment_rejection_rates_refresh, location_ids=[location_id]))


def fulfillment_rejection_rates_refresh(*, location_ids: list[int] | None = None) -> int:
    """Set each location's share of rejected fulfillment orders over the last days (all
    locations that had work then or still carry a rate, unless `location_ids` are given),
    so a store that stopped rejecting climbs back up the routing. Returns how many."""
    since = timezone.now() - REJECTION_WINDOW
    recent = FulfillmentOrder.objects.filter(created_at__gte=since)
    locations = Location.objects.all()
    if location_ids is not None:
        recent = recent.filter(location_id__in=location_ids)
        locations = locations.filter(pk__in=location_ids)
    counts = {
        row["location_id"]: row
        for row in recent.values("location_id").annotate(
            total=Count("pk"),
            rejected=Count("pk", filter=Q(status=FulfillmentOrder.Status.REJECTED)),
        )
    }
    changed = 0
    for location in locations.filter(Q(pk__in=list(counts)) | Q(recent_rejection_rate__gt=0)):
        row = counts.get(location.pk)
        rate = row["rejected"] / row["total"] if row else 0.0
        if rate != location.recent_rejection_rate:
            location_update_rejection_rate(location=location, rate=rate)
            changed += 1
    return changed

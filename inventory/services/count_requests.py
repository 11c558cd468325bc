"""Count requests: a shelf to count, because units of it were reported not found.

The units are held (on hand, never promised) from the report until the count is recorded;
`stock_cycle_count` settles every request opened before the count was taken.
"""

from datetime import datetime

from django.utils import timezone

from inventory.models import CountRequest, StockMovement
from inventory.services.levels import Pair


def count_requests_to_settle(*, pair: Pair, counted_at: datetime) -> list[CountRequest]:
    """The open requests of `pair` a count taken at `counted_at` answers, locked in id order.
    Later ones stay open: the shelf was counted before they were reported."""
    location_id, sku_id = pair
    return list(
        CountRequest.objects.select_for_update()
        .filter(
            location_id=location_id,
            sku_id=sku_id,
            status=CountRequest.Status.OPEN,
            created_at__lte=counted_at,
        )
        .order_by("pk")
    )


def count_requests_settle(*, requests: list[CountRequest], count: StockMovement) -> None:
    """Mark `requests` counted by the cycle count `count` (their held units already left)."""
    if not requests:
        return
    now = timezone.now()  # bulk_update does not apply auto_now
    for request in requests:
        request.settle()
        request.counted_at, request.count, request.updated_at = count.created_at, count, now
    CountRequest.objects.bulk_update(requests, ["status", "counted_at", "count", "updated_at"])


def not_found_held(*, pair: Pair) -> int:
    """Units of `pair` held as not found, awaiting a count: no disposition may take them."""
    location_id, sku_id = pair
    return sum(
        CountRequest.objects.filter(
            location_id=location_id, sku_id=sku_id, status=CountRequest.Status.OPEN
        ).values_list("quantity", flat=True)
    )

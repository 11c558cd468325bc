from stores.models import Location


def location_update_rejection_rate(*, location: Location, rate: float) -> None:
    """Kept by fulfillment: the share of recent fulfillment orders this location rejected."""
    rate = min(1.0, max(0.0, rate))
    Location.objects.filter(pk=location.pk).update(recent_rejection_rate=rate)
    location.recent_rejection_rate = rate

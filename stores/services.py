from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from common.models import Channel
from stores.models import Location, StaffMembership


def location_update_rejection_rate(*, location: Location, rate: float) -> None:
    """Kept by fulfillment: the share of recent fulfillment orders this location rejected."""
    rate = min(1.0, max(0.0, rate))
    Location.objects.filter(pk=location.pk).update(recent_rejection_rate=rate)
    location.recent_rejection_rate = rate


@transaction.atomic
def store_token_user_get_or_create(*, location: Location) -> AbstractBaseUser:
    """The service user a store's app authenticates as: staff (an associate) of that store only,
    so its token sees and changes what the store's own associates may, and no other store's."""
    user, _ = get_user_model().objects.get_or_create(
        username=f"channel-{Channel.STORE}-{location.code.lower()}",
        defaults={"first_name": f"{location.code} store app"},
    )
    StaffMembership.objects.get_or_create(
        user=user, location=location, defaults={"role": StaffMembership.Role.ASSOCIATE}
    )
    return user

"""Store staff logged in to the admin, with the permissions the "Store staff" group has."""

from django.contrib.auth.models import Group, Permission

from stores.models import StaffMembership
from tests.stores.factories import UserFactory


def staff_in_admin(client, location, username: str):
    """A member of staff at `location`, logged in to the admin through `client`."""
    user = UserFactory(username=username, is_staff=True)
    group, _ = Group.objects.get_or_create(name="Store staff")
    group.permissions.set(
        Permission.objects.filter(codename__in=["view_fulfillmentorder", "change_fulfillmentorder"])
    )
    user.groups.add(group)
    StaffMembership.objects.create(user=user, location=location)
    client.force_login(user)
    return user

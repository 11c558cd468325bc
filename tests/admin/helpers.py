"""Store staff in the admin, with the permissions the "Store staff" group has."""

from django.contrib.auth.models import Group, Permission

from stores.models import StaffMembership
from tests.stores.factories import UserFactory

STORE_STAFF_PERMISSIONS = ["view_fulfillmentorder", "change_fulfillmentorder", "view_stocklevel"]


def store_staff(
    location, username: str, *, role: str = StaffMembership.Role.ASSOCIATE, password: str = ""
):
    """A member of staff at `location` in the "Store staff" group (who logs in with
    `password` when one is given)."""
    user = UserFactory(username=username, is_staff=True)
    if password:
        user.set_password(password)
        user.save()
    group, _ = Group.objects.get_or_create(name="Store staff")
    group.permissions.set(Permission.objects.filter(codename__in=STORE_STAFF_PERMISSIONS))
    user.groups.add(group)
    StaffMembership.objects.create(user=user, location=location, role=role)
    return user


def staff_in_admin(client, location, username: str):
    """A member of staff at `location`, logged in to the admin through `client`."""
    user = store_staff(location, username)
    client.force_login(user)
    return user

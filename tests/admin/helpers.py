"""Store staff in the admin, in the group of their role (as `seed_demo` sets them up)."""

from stores.models import StaffMembership
from stores.roles import staff_role_grant
from tests.stores.factories import UserFactory


def store_staff(
    location, username: str, *, role: str = StaffMembership.Role.ASSOCIATE, password: str = ""
):
    """A member of staff at `location` in their role's group (who logs in with `password`
    when one is given)."""
    user = UserFactory(username=username, is_staff=True)
    if password:
        user.set_password(password)
        user.save()
    StaffMembership.objects.create(user=user, location=location, role=role)
    staff_role_grant(user=user, role=role)
    return user


def staff_in_admin(client, location, username: str, *, role: str = StaffMembership.Role.ASSOCIATE):
    """A member of staff at `location`, logged in to the admin through `client`."""
    user = store_staff(location, username, role=role)
    client.force_login(user)
    return user

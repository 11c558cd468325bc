"""The staff roles as permission groups, kept by `sync_roles` (and `seed_demo`)."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from stores.demo import seed_staff
from stores.models import Location, StaffMembership
from stores.roles import ROLE_GROUPS, roles_sync
from tests.stores.factories import LocationFactory, StaffMembershipFactory

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role


def _perms(role: str) -> set[str]:
    group = Group.objects.get(name=ROLE_GROUPS[role])
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_associates_read_and_work_orders_but_never_change_stock():
    roles_sync()

    associate, manager = _perms(Role.ASSOCIATE), _perms(Role.MANAGER)
    assert "fulfillment.change_fulfillmentorder" in associate
    assert "fulfillment.view_fulfillmentorderline" in associate
    assert "orders.view_orderevent" in associate
    assert "inventory.add_stockmovement" not in associate
    assert {"inventory.add_stockmovement", "inventory.change_stocklevel",
            "stores.change_location"} <= manager  # fmt: skip
    assert "inventory.add_stockmovement" in _perms(Role.OPERATOR)


def test_sync_roles_is_idempotent_puts_staff_in_their_groups_and_drops_the_old_group():
    legacy = Group.objects.create(name="Store staff")
    membership = StaffMembershipFactory(role=Role.MANAGER)
    membership.user.groups.add(legacy)

    call_command("sync_roles", verbosity=0)
    call_command("sync_roles", verbosity=0)

    assert Group.objects.filter(name__in=ROLE_GROUPS.values()).count() == 3
    assert not Group.objects.filter(name="Store staff").exists()
    assert list(membership.user.groups.values_list("name", flat=True)) == ["Store manager"]


def test_the_demo_gives_each_warehouse_a_manager_and_an_operator():
    LocationFactory(code="DC-KUNSHAN", kind=Location.Kind.WAREHOUSE)

    created = seed_staff(stores=1, limit=0)

    assert sorted(created) == ["dc-kunshan-manager", "dc-kunshan-operator"]
    roles = StaffMembership.objects.filter(location__code="DC-KUNSHAN").values_list(
        "role", flat=True
    )
    assert sorted(roles) == [Role.MANAGER, Role.OPERATOR]

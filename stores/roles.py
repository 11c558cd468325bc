"""The staff roles as permission groups: what an associate, a manager and a warehouse operator
may open in the admin. Which location they may act on is their `StaffMembership`; a group only
says which kinds of record.

`roles_sync` is idempotent: `manage.py sync_roles` and `seed_demo` run it, and running it
again after a deploy brings every group to this list and every member into their role's group.
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from stores.models import StaffMembership

Role = StaffMembership.Role

# Reading a location's work and acting on its fulfillment orders (the buttons).
_FLOOR = [
    "stores.view_location",
    "inventory.view_sku",
    "inventory.view_stocklevel",
    "inventory.view_stockmovement",
    "inventory.view_reservation",
    "inventory.view_transfer",
    "customers.view_customer",
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "fulfillment.view_fulfillmentorder",
    "fulfillment.change_fulfillmentorder",
    "fulfillment.view_fulfillmentorderline",
    "inventory.view_countrequest",
    "customers.view_pointsentry",
    # Any store that takes returns takes them at the counter, receives and inspects them.
    "returns.view_return",
    "returns.add_return",
    "returns.change_return",
]
# Changing stock, asking other locations for it, and the store's own settings.
_STOCK_KEEPING = [
    "inventory.add_stockmovement",
    "inventory.change_stocklevel",
    "inventory.add_transfer",
    "inventory.change_transfer",
]

ROLE_GROUPS: dict[str, str] = {
    Role.ASSOCIATE: "Store associate",
    Role.MANAGER: "Store manager",
    Role.OPERATOR: "Warehouse operator",
}
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.ASSOCIATE: _FLOOR,
    Role.MANAGER: [
        *_FLOOR, *_STOCK_KEEPING, "stores.change_location", "stores.view_staffmembership",
        "customers.add_pointsentry",  # a points adjustment with a reason
    ],
    Role.OPERATOR: [*_FLOOR, *_STOCK_KEEPING],
}  # fmt: skip
# The one group earlier demo chains put every member of staff in, associates included, with
# stock-changing permissions: replaced by the role groups.
LEGACY_GROUPS = ["Store staff"]
# Who records stock changes, sets safety stock and requests transfers at their location.
STOCK_KEEPERS = (Role.MANAGER, Role.OPERATOR)


def _permissions(labels: list[str]) -> list[Permission]:
    wanted = {tuple(label.split(".")) for label in labels}
    rows = Permission.objects.select_related("content_type").filter(
        codename__in={codename for _, codename in wanted}
    )
    return [p for p in rows if (p.content_type.app_label, p.codename) in wanted]


@transaction.atomic
def roles_sync() -> dict[str, Group]:
    """Create or update the role groups and put every member of staff in their roles' groups."""
    Group.objects.filter(name__in=LEGACY_GROUPS).delete()
    groups = {}
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(ROLE_PERMISSIONS[role]))
        groups[role] = group
    for membership in StaffMembership.objects.select_related("user"):
        membership.user.groups.add(groups[membership.role])
    return groups


def staff_role_grant(*, user, role: str) -> None:
    """Put `user` in the group of `role` (creating the groups when needed)."""
    group = Group.objects.filter(name=ROLE_GROUPS[role]).first() or roles_sync()[role]
    user.groups.add(group)

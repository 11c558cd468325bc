"""Demo chain: a dozen real-city stores, two warehouses, staff per store, an admin."""

import random
from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q

from stores.models import Location, StaffMembership

DEMO_PASSWORD = "omnistock-demo"  # noqa: S105 - printed to the person running the demo

# code, name, city, postcode, latitude, longitude
STORES = [
    ("SH-XUHUI", "Shanghai Xujiahui", "Shanghai", "200030", 31.1951, 121.4365),
    ("SH-PUDONG", "Shanghai Lujiazui", "Shanghai", "200120", 31.2397, 121.4998),
    ("SH-JINGAN", "Shanghai Jing'an", "Shanghai", "200040", 31.2235, 121.4454),
    ("BJ-CHAOYANG", "Beijing Sanlitun", "Beijing", "100027", 39.9334, 116.4547),
    ("BJ-HAIDIAN", "Beijing Zhongguancun", "Beijing", "100080", 39.9835, 116.3160),
    ("GZ-TIANHE", "Guangzhou Tianhe", "Guangzhou", "510620", 23.1352, 113.3287),
    ("SZ-FUTIAN", "Shenzhen Futian", "Shenzhen", "518048", 22.5410, 114.0540),
    ("HZ-XIHU", "Hangzhou West Lake", "Hangzhou", "310012", 30.2592, 120.1300),
    ("NJ-XINJIEKOU", "Nanjing Xinjiekou", "Nanjing", "210005", 32.0418, 118.7838),
    ("SU-GUANQIAN", "Suzhou Guanqian", "Suzhou", "215005", 31.3114, 120.6293),
    ("CD-JINJIANG", "Chengdu Chunxi Road", "Chengdu", "610021", 30.6570, 104.0810),
    ("WU-JIANGHAN", "Wuhan Jianghan Road", "Wuhan", "430021", 30.5855, 114.2880),
]
WAREHOUSES = [
    ("DC-KUNSHAN", "East China DC Kunshan", "Kunshan", "215300", 31.3856, 120.9808),
    ("DC-DONGGUAN", "South China DC Dongguan", "Dongguan", "523000", 23.0205, 113.7518),
]
OPENING_HOURS = {
    day: ["10:00", "22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


def _store(code, name, city, postcode, lat, lng) -> Location:
    return Location(
        code=code, name=name, kind=Location.Kind.STORE, city=city, postcode=postcode,
        address_line1=f"{name} flagship", latitude=lat, longitude=lng,
        opening_hours=OPENING_HOURS, can_ship=True, can_pickup=True, can_curbside=True,
        accepts_returns=True, daily_ship_capacity=40, pickup_hold_hours=72,
        accept_sla_minutes=60,
    )  # fmt: skip


def _warehouse(code, name, city, postcode, lat, lng) -> Location:
    return Location(
        code=code, name=name, kind=Location.Kind.WAREHOUSE, city=city, postcode=postcode,
        address_line1=f"{name} logistics park", latitude=lat, longitude=lng,
        can_ship=True, daily_ship_capacity=5000, accept_sla_minutes=240,
    )  # fmt: skip


def demo_locations(*, stores: int, warehouses: int, seed: int = 7) -> list[Location]:
    """The chain to build: the real-city list first, then generated ones around them."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo layout, not security
    result = [_store(*row) for row in STORES[:stores]]
    for n in range(len(STORES), stores):
        _, _, city, postcode, lat, lng = STORES[n % len(STORES)]
        result.append(
            _store(f"ST-{n + 1:04d}", f"{city} store {n + 1}", city, postcode,
                   round(lat + rng.uniform(-0.6, 0.6), 5), round(lng + rng.uniform(-0.6, 0.6), 5))
        )  # fmt: skip
    result += [_warehouse(*row) for row in WAREHOUSES[:warehouses]]
    for n in range(len(WAREHOUSES), warehouses):
        _, _, city, postcode, lat, lng = WAREHOUSES[n % len(WAREHOUSES)]
        result.append(
            _warehouse(f"DC-{n + 1:04d}", f"{city} DC {n + 1}", city, postcode,
                       round(lat + rng.uniform(-1, 1), 5), round(lng + rng.uniform(-1, 1), 5))
        )  # fmt: skip
    return result


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def seed_locations(
    *, stores: int, warehouses: int, progress: Callable[[int], None] = lambda n: None
) -> int:
    """Insert the demo locations that are missing (by code); returns how many were new."""
    wanted = demo_locations(stores=stores, warehouses=warehouses)
    existing = set(
        Location.objects.filter(code__in=[loc.code for loc in wanted]).values_list(
            "code", flat=True
        )
    )
    new = [loc for loc in wanted if loc.code not in existing]
    for batch in _batches(new, 1000):
        Location.objects.bulk_create(batch, ignore_conflicts=True)
        progress(len(batch))
    return len(new)


def demo_store_codes(*, stores: int) -> list[str]:
    """Codes of the first `stores` demo stores, in the order they are built."""
    return [loc.code for loc in demo_locations(stores=stores, warehouses=0)]


@transaction.atomic
def seed_staff(*, stores: int, limit: int = 50) -> list[str]:
    """A manager and an associate for the first `limit` of the `stores` demo stores, a manager
    and an operator for each demo warehouse, and an `admin` when there is no superuser yet;
    all with the demo password.

    Only the demo's own stores: a store added since (in the admin, say) gets no users with
    a published password, and neither does a database whose superuser is someone else.
    """
    users = get_user_model().objects
    password = make_password(DEMO_PASSWORD)
    if not users.filter(is_superuser=True).exists():
        users.create(
            username="admin", email="admin@omnistock.local", password=password,
            is_staff=True, is_superuser=True,
        )  # fmt: skip
    created = []
    codes = demo_store_codes(stores=stores)[:limit]
    demo_codes = [loc.code for loc in demo_locations(stores=stores, warehouses=len(WAREHOUSES))]
    store_roles = [StaffMembership.Role.ASSOCIATE, StaffMembership.Role.MANAGER]
    # Warehouses have staff too: their alerts and transfers need someone to go to.
    warehouse_roles = [StaffMembership.Role.OPERATOR, StaffMembership.Role.MANAGER]
    locations = Location.objects.filter(
        Q(code__in=codes, kind=Location.Kind.STORE)
        | Q(code__in=demo_codes, kind=Location.Kind.WAREHOUSE)
    ).order_by("pk")
    for store in locations:
        roles = store_roles if store.kind == Location.Kind.STORE else warehouse_roles
        for role in roles:
            username = f"{store.code.lower()}-{role}"
            defaults = {
                "password": password,
                "is_staff": True,
                "email": f"{username}@omnistock.local",
                "first_name": StaffMembership.Role(role).label,
                "last_name": store.name,
            }
            user, new = users.get_or_create(username=username, defaults=defaults)
            StaffMembership.objects.get_or_create(
                user=user, location=store, defaults={"role": role}
            )
            if new:
                created.append(username)
    return created

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from stores.models import Location, StaffMembership


def _snapshot():
    locations = list(
        Location.objects.order_by("code").values_list("code", "kind", "latitude", "longitude")
    )
    staff = list(
        StaffMembership.objects.order_by("user__username").values_list(
            "user__username", "location__code", "role"
        )
    )
    return locations, staff, get_user_model().objects.count()


@pytest.mark.django_db
def test_seed_demo_twice_gives_the_same_data(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--no-progress", stdout=StringIO())
    first = _snapshot()

    out = StringIO()
    call_command("seed_demo", "--no-progress", stdout=out)

    assert _snapshot() == first
    assert "0 new locations" in out.getvalue()
    locations, staff, _ = first
    assert len([row for row in locations if row[1] == "store"]) == 12
    assert len([row for row in locations if row[1] == "warehouse"]) == 2
    assert ("sh-xuhui-manager", "SH-XUHUI", "manager") in staff
    assert get_user_model().objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_seed_demo_scales_with_bulk_inserts(settings, tmp_path, django_assert_max_num_queries):
    settings.VAR_DIR = tmp_path

    with django_assert_max_num_queries(400):
        call_command(
            "seed_demo", "--stores", "1000", "--warehouses", "5", "--staff-stores", "3",
            "--no-progress", stdout=StringIO(),
        )  # fmt: skip

    assert Location.objects.filter(kind="store").count() == 1000
    assert Location.objects.filter(kind="warehouse").count() == 5
    assert Location.objects.values("code").distinct().count() == 1005

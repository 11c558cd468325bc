import re
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from common.models import ApiToken
from inventory.models import Sku, StockLevel, StockMovement
from stores.models import Location, StaffMembership
from tests.stores.factories import LocationFactory


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


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--no-progress", *args, stdout=out)
    return out.getvalue()


def _printed_token(output: str) -> str:
    return re.search(r"Web channel API token: ([0-9a-f]{40})", output).group(1)


@pytest.mark.django_db
def test_if_empty_loads_the_demo_into_an_empty_database_and_prints_how_to_log_in(
    settings, tmp_path
):
    settings.VAR_DIR = tmp_path

    output = _seed("--if-empty")

    assert Location.objects.count() == 14
    assert "password 'omnistock-demo'" in output
    assert _printed_token(output) == (tmp_path / "demo-web-token.txt").read_text()


@pytest.mark.django_db
def test_if_empty_leaves_a_chain_with_any_location_alone_and_says_how_to_get_a_token(
    settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    LocationFactory(code="REAL-STORE")

    output = _seed("--if-empty")

    assert list(Location.objects.values_list("code", flat=True)) == ["REAL-STORE"]
    assert not get_user_model().objects.exists()
    assert not Sku.objects.exists()
    assert "not loaded" in output
    assert "python manage.py issue_token --channel web" in output
    assert "Web channel API token" not in output
    assert not (tmp_path / "demo-web-token.txt").exists()


@pytest.mark.django_db
def test_seeding_again_gives_no_staff_or_stock_to_stores_and_skus_added_since(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    _seed("--skus", "5")
    store = LocationFactory(code="NEW-STORE")
    synced = Sku.objects.create(code="PIM-0001", name="Synced by the PIM", price=Decimal("9.90"))

    _seed("--skus", "5")

    assert not StaffMembership.objects.filter(location=store).exists()
    assert not StockLevel.objects.filter(location=store).exists()
    assert not StockLevel.objects.filter(sku=synced).exists()
    assert not StockMovement.objects.filter(sku=synced).exists()


@pytest.mark.django_db
def test_seeding_again_does_not_bring_back_a_removed_admin_when_another_superuser_exists(
    settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    _seed()
    users = get_user_model().objects
    users.create_superuser("owner", "owner@example.com", "a-real-password-123")
    users.filter(username="admin").delete()

    _seed()

    assert not users.filter(username="admin").exists()


@pytest.mark.django_db
def test_seeding_again_replaces_a_revoked_web_token_with_one_that_works(
    settings, tmp_path, api_client
):
    settings.VAR_DIR = tmp_path
    first = _printed_token(_seed())
    ApiToken.objects.update(revoked_at=timezone.now())

    second = _printed_token(_seed())

    assert second != first
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api_client.get("/api/v1/locations").status_code == 200
    assert (tmp_path / "demo-web-token.txt").read_text() == second


@pytest.mark.django_db
def test_seeding_again_prints_the_same_working_token(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    assert _printed_token(_seed()) == _printed_token(_seed())
    assert ApiToken.objects.count() == 1

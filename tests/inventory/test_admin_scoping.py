"""Staff in the admin see the transfers of their own locations only."""

import pytest
from django.contrib.auth.models import Permission

from inventory.models import Transfer
from inventory.services import stock_transfer
from tests.inventory.factories import SkuFactory, stock_put
from tests.stores.factories import LocationFactory, StaffMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def transfers():
    xuhui, pudong, beijing, haidian = (
        LocationFactory(code=code)
        for code in ("SH-XUHUI", "SH-PUDONG", "BJ-CHAOYANG", "BJ-HAIDIAN")
    )
    sku = SkuFactory()
    for location in (xuhui, pudong, beijing):
        stock_put(location=location, sku=sku, on_hand=5)
    return {
        "out": stock_transfer(from_location=xuhui, to_location=pudong, sku=sku, quantity=1),
        "in": stock_transfer(from_location=pudong, to_location=xuhui, sku=sku, quantity=1),
        "elsewhere": stock_transfer(
            from_location=beijing, to_location=haidian, sku=sku, quantity=1
        ),
    }


@pytest.fixture
def xuhui_staff(client, transfers):
    membership = StaffMembershipFactory(location=transfers["out"].from_location)
    membership.user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inventory", codename="view_transfer")
    )
    client.force_login(membership.user)
    return client


def test_staff_list_only_transfers_leaving_or_arriving_at_their_locations(xuhui_staff, transfers):
    response = xuhui_staff.get("/admin/inventory/transfer/")

    assert response.status_code == 200
    shown = {t.pk for t in response.context["cl"].result_list}
    assert shown == {transfers["out"].pk, transfers["in"].pk}
    assert "BJ-CHAOYANG" not in response.content.decode()


def test_staff_cannot_open_a_transfer_between_other_stores(xuhui_staff, transfers):
    elsewhere = transfers["elsewhere"]

    response = xuhui_staff.get(f"/admin/inventory/transfer/{elsewhere.pk}/change/")

    # As for a transfer that does not exist: back to the admin's index, nothing shown.
    assert (response.status_code, response.url) == (302, "/admin/")


def test_a_superuser_lists_every_transfer(client, transfers):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get("/admin/inventory/transfer/")

    assert {t.pk for t in response.context["cl"].result_list} == set(
        Transfer.objects.values_list("pk", flat=True)
    )

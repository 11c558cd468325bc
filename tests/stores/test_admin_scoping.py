"""Staff in the admin see the people of their own locations only; superusers see everyone."""

import pytest
from django.contrib.auth.models import Permission

from tests.stores.factories import LocationFactory, StaffMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _staff_at(location, *, username: str):
    membership = StaffMembershipFactory(location=location, user=UserFactory(username=username))
    membership.user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="stores",
            codename__in=["view_location", "view_staffmembership"],
        )
    )
    return membership


@pytest.fixture
def two_stores():
    xuhui, pudong = LocationFactory(code="SH-XUHUI"), LocationFactory(code="SH-PUDONG")
    me = _staff_at(xuhui, username="xuhui-associate")
    colleague = _staff_at(xuhui, username="xuhui-manager")
    elsewhere = _staff_at(pudong, username="pudong-manager")
    return me, colleague, elsewhere


def test_staff_list_only_the_memberships_of_their_own_locations(client, two_stores):
    me, colleague, _ = two_stores
    client.force_login(me.user)

    response = client.get("/admin/stores/staffmembership/")

    assert response.status_code == 200
    shown = {m.pk for m in response.context["cl"].result_list}
    assert shown == {me.pk, colleague.pk}
    assert "pudong-manager" not in response.content.decode()


def test_staff_cannot_search_another_stores_staff_by_email(client, two_stores):
    me, _, elsewhere = two_stores
    client.force_login(me.user)

    response = client.get("/admin/stores/staffmembership/", {"q": elsewhere.user.email})

    assert list(response.context["cl"].result_list) == []
    assert "0 results" in response.content.decode()


def test_staff_cannot_open_another_stores_membership(client, two_stores):
    me, _, elsewhere = two_stores
    client.force_login(me.user)

    response = client.get(f"/admin/stores/staffmembership/{elsewhere.pk}/change/")

    # As for a membership that does not exist: back to the list, nothing shown.
    assert (response.status_code, response.url) == (302, "/admin/stores/staffmembership/")


def test_a_location_page_shows_no_staff_of_other_locations(client, two_stores):
    me, _, elsewhere = two_stores
    client.force_login(me.user)

    response = client.get(f"/admin/stores/location/{elsewhere.location.pk}/change/")

    assert response.status_code == 200
    assert "pudong-manager" not in response.content.decode()


def test_a_superuser_lists_every_membership(client, two_stores):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get("/admin/stores/staffmembership/")

    assert {m.user.username for m in response.context["cl"].result_list} == {
        "xuhui-associate", "xuhui-manager", "pudong-manager",
    }  # fmt: skip

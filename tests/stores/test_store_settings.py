"""A store's manager sets its hours, hold and accept times, ship capacity and capabilities,
each checked by `location_update_settings`; nobody else changes them."""

import pytest

from stores.models import Location, StaffMembership
from stores.services import SettingsInvalid, location_update_settings
from tests.admin.helpers import store_staff
from tests.stores.factories import LocationFactory

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role


def _settings(**changes) -> dict:
    data = {
        "opening_hours": '{"mon": ["09:00", "21:00"]}', "pickup_hold_hours": 48,
        "accept_sla_minutes": 90, "daily_ship_capacity": 40, "can_ship": "on",
        "can_pickup": "on", "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    }  # fmt: skip
    return {**data, **changes}


def test_a_manager_changes_the_store_settings_in_the_admin(client):
    store = LocationFactory(code="SH-XUHUI", can_curbside=True)
    client.force_login(store_staff(store, "xuhui-manager", role=Role.MANAGER))

    response = client.post(f"/admin/stores/location/{store.pk}/change/", _settings())

    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.accept_sla_minutes, store.pickup_hold_hours) == (90, 48)
    assert store.opening_hours == {"mon": ["09:00", "21:00"]}
    assert (store.can_ship, store.can_curbside) == (True, False)


def test_bad_settings_are_shown_on_the_form_and_nothing_is_saved(client):
    store = LocationFactory(code="SH-XUHUI", accept_sla_minutes=120)
    client.force_login(store_staff(store, "xuhui-manager", role=Role.MANAGER))

    response = client.post(
        f"/admin/stores/location/{store.pk}/change/",
        _settings(opening_hours='{"mon": ["9 am", "21:00"]}', daily_ship_capacity=0),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "HH:MM" in str(errors["opening_hours"])
    assert "capacity above 0" in str(errors["daily_ship_capacity"])
    store.refresh_from_db()
    assert store.accept_sla_minutes == 120


@pytest.mark.parametrize("who", ["associate", "other_manager"])
def test_only_the_stores_manager_changes_its_settings(client, who):
    store = LocationFactory(code="SH-XUHUI", accept_sla_minutes=120)
    other = LocationFactory(code="SH-PUDONG")
    if who == "associate":
        user = store_staff(store, "xuhui-associate")
    else:
        user = store_staff(other, "pudong-manager", role=Role.MANAGER)
    client.force_login(user)

    response = client.post(f"/admin/stores/location/{store.pk}/change/", _settings())

    assert response.status_code == 403
    store.refresh_from_db()
    assert store.accept_sla_minutes == 120


def test_the_service_refuses_what_is_not_a_setting_or_out_of_range():
    store = LocationFactory(code="SH-XUHUI")

    with pytest.raises(SettingsInvalid) as refused:
        location_update_settings(location=store, actor=None, pickup_hold_hours=0, code="X")

    assert refused.value.extra["errors"] == {"code": "Not a store setting."}
    with pytest.raises(SettingsInvalid) as refused:
        location_update_settings(location=store, actor=None, pickup_hold_hours=0)
    assert "pickup_hold_hours" in refused.value.extra["errors"]
    assert Location.objects.get(pk=store.pk).pickup_hold_hours == store.pickup_hold_hours

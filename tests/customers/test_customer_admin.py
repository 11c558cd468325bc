"""The customer page in the admin: found at the counter by phone or member id, the history
across channels and stores, enrolment at the till and merges by managers."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from customers.models import Customer
from stores.models import StaffMembership
from tests.customers.factories import MOBILE, CustomerFactory, assert_all_clean
from tests.factories import place_order, staff_member
from tests.inventory.factories import stock_put

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/customers/customer/"


def _in_admin(client, user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "view_order"])
    )
    client.force_login(user)
    return client


@pytest.fixture
def associate(client, xuhui):
    return _in_admin(client, staff_member(xuhui))


@pytest.fixture
def manager(client, xuhui):
    return _in_admin(client, staff_member(xuhui, role=StaffMembership.Role.MANAGER))


def _action(client, action: str, customers, **extra):
    data = {"action": action, "_selected_action": [c.pk for c in customers], **extra}
    return client.post(CHANGELIST, data)


def test_an_associate_finds_a_customer_by_phone_typed_any_way_and_opens_the_page(
    associate, pudong, tee
):
    stock_put(location=pudong, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], location=pudong, email=None, phone=MOBILE, name="Ada")
    ada = order.customer
    page = f"{CHANGELIST}{ada.pk}/change/"

    assert associate.get(page).status_code == 302  # not one of their stores' customers
    assert "Ada" not in associate.get(CHANGELIST).content.decode()

    found = associate.get(CHANGELIST, {"q": "138 0013 8000"})

    assert found.status_code == 200
    assert f"{ada.pk}/change/" in found.content.decode()
    opened = associate.get(page)
    assert opened.status_code == 200
    assert order.number in opened.content.decode()  # their orders, whatever the store


def test_a_member_id_typed_in_lower_case_finds_the_member(associate):
    ada = CustomerFactory(member_id="M123456782", name="Ada Member")

    found = associate.get(CHANGELIST, {"q": "m 123456782"}).content.decode()

    assert f"{ada.pk}/change/" in found


def test_the_page_shows_every_channels_orders_the_pickups_and_the_member_id(
    client, xuhui, pudong, tee, django_capture_on_commit_callbacks
):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    stock_put(location=pudong, sku=tee, on_hand=3)
    with django_capture_on_commit_callbacks(execute=True):  # released to the store
        online = place_order([(tee, 1)], location=xuhui, email="ada@example.com", phone=MOBILE)
    till = place_order(
        [(tee, 1)], method="carry_out", channel="store", location=pudong, phone=MOBILE, email=None
    )
    ada = online.customer
    Customer.objects.filter(pk=ada.pk).update(member_id="M123456782")
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)

    page = client.get(f"{CHANGELIST}{ada.pk}/change/").content.decode()

    assert till.customer_id == ada.pk
    assert online.number in page
    assert till.number in page
    assert "M123456782" in page
    assert f"Pick up in store at SH-XUHUI: Pending (order {online.number})" in page


def test_a_manager_merges_two_members_only_after_confirming_their_member_ids(manager):
    ada = CustomerFactory(email="ada@example.com", member_id="M111111116")
    again = CustomerFactory(email="ada2@example.com", member_id="M222222224")
    for found in ("M111111116", "M222222224"):  # at the counter
        manager.get(CHANGELIST, {"q": found})

    asked = _action(manager, "merge", [ada, again])
    assert asked.status_code == 200
    assert "different member ids" in asked.content.decode()

    refused = _action(manager, "merge", [ada, again], survivor=ada.pk)
    assert "confirm to merge" in refused.content.decode()
    assert Customer.objects.get(pk=again.pk).merged_into is None

    done = _action(manager, "merge", [ada, again], survivor=ada.pk, confirm_member_ids="on")

    assert done.status_code == 302
    again.refresh_from_db()
    assert again.merged_into == ada
    assert ada.events.get().actor.username.startswith("manager-")
    merged_page = manager.get(f"{CHANGELIST}{ada.pk}/change/").content.decode()
    assert "merged into this one" in merged_page
    assert_all_clean()


def test_an_associate_cannot_merge(associate):
    ada, again = CustomerFactory(), CustomerFactory()

    associate.get(CHANGELIST, {"q": ada.email})
    associate.get(CHANGELIST, {"q": again.email})
    _action(associate, "merge", [ada, again], survivor=ada.pk)

    assert not Customer.objects.filter(merged_into__isnull=False).exists()


def test_an_associate_enrols_a_customer_at_the_till(associate):
    ada = CustomerFactory(phone=MOBILE)
    associate.get(CHANGELIST, {"q": MOBILE})

    response = _action(associate, "enrol", [ada])

    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.member_id
    assert ada.enrolled_at

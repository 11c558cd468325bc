"""A manager merges two records of one person: the orders move, both timelines say so, and
either identity finds the survivor from then on."""

import pytest

from customers.errors import MemberIdsDiffer, MergeNotAllowed
from customers.models import Customer, CustomerEvent
from customers.services import customer_merge
from orders.models import Order, OrderEvent
from stores.models import StaffMembership
from tests.customers.factories import (
    MOBILE,
    OTHER_MOBILE,
    CustomerFactory,
    assert_all_clean,
    checkout_as,
)
from tests.factories import place_order, staff_client, staff_member
from tests.inventory.factories import stock_put

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(xuhui):
    return staff_member(xuhui, role=StaffMembership.Role.MANAGER)


@pytest.fixture
def two_records(xuhui, tee):
    """Ada online (by email) and Ada at the till (by phone): one person, two records."""
    stock_put(location=xuhui, sku=tee, on_hand=20)
    online = place_order([(tee, 1)], location=xuhui, email="ada@example.com", phone=None)
    till = place_order(
        [(tee, 1)], method="carry_out", location=xuhui, channel="store", email=None, phone=MOBILE
    )
    return online, till


def test_a_merge_moves_the_orders_and_hands_over_what_the_survivor_lacks(two_records, manager):
    online, till = two_records
    survivor, merged = online.customer, till.customer

    customer_merge(survivor=survivor, merged=merged, actor=manager)

    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert set(survivor.orders.values_list("number", flat=True)) == {online.number, till.number}
    assert (survivor.email, survivor.phone) == ("ada@example.com", MOBILE)
    assert (merged.merged_into, merged.phone, merged.merged_at is not None) == (
        survivor,
        None,
        True,
    )
    assert Customer.objects.count() == 2  # kept, not deleted
    assert_all_clean()


def test_both_timelines_say_so(two_records, manager):
    online, till = two_records
    survivor, merged = online.customer, till.customer

    customer_merge(survivor=survivor, merged=merged, actor=manager)

    [merged_in] = survivor.events.all()
    [merged_away] = merged.events.all()
    assert (merged_in.kind, merged_in.actor) == (CustomerEvent.Kind.MERGED_IN, manager)
    assert MOBILE in merged_in.message
    assert merged_away.kind == CustomerEvent.Kind.MERGED_AWAY
    [moved] = till.events.filter(kind=OrderEvent.Kind.CUSTOMER_MERGED)
    assert moved.data == {"from": merged.pk, "to": survivor.pk}
    assert not online.events.filter(kind=OrderEvent.Kind.CUSTOMER_MERGED).exists()


def test_a_checkout_by_the_merged_phone_lands_on_the_survivor(web, two_records, xuhui, tee):
    online, till = two_records
    survivor = online.customer
    other = CustomerFactory(email="ada.work@example.com", phone=OTHER_MOBILE)
    customer_merge(survivor=survivor, merged=till.customer, actor=None)
    customer_merge(survivor=survivor, merged=other, actor=None)  # keeps its phone: Ada has one

    by_phone = checkout_as(web, xuhui, tee, {"phone": "139 0013 9000"})
    by_email = checkout_as(web, xuhui, tee, {"email": "ada.work@example.com"})

    assert by_phone.status_code == by_email.status_code == 201
    assert by_phone.json()["customer"]["email"] == "ada@example.com"
    assert survivor.orders.count() == 4
    assert Customer.objects.count() == 3
    history = web.get("/api/v1/orders", {"customer": OTHER_MOBILE}).json()
    assert history["count"] == 4
    assert_all_clean()


def test_two_different_member_ids_need_a_managers_confirmation(manager):
    ada = CustomerFactory(email="ada@example.com", member_id="M111111116")
    again = CustomerFactory(email="ada2@example.com", member_id="M222222224")

    with pytest.raises(MemberIdsDiffer) as refused:
        customer_merge(survivor=ada, merged=again, actor=manager)

    assert refused.value.status == 409
    assert refused.value.as_dict()["member_ids"] == ["M111111116", "M222222224"]
    assert Customer.objects.get(pk=again.pk).merged_into is None
    assert not CustomerEvent.objects.exists()

    customer_merge(survivor=ada, merged=again, actor=manager, confirm_member_ids=True)

    again.refresh_from_db()
    assert (again.merged_into, again.member_id) == (ada, "M222222224")
    assert Customer.objects.get(pk=ada.pk).member_id == "M111111116"


def test_the_old_member_id_still_finds_the_survivor_at_checkout(web, xuhui, tee, manager):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    ada = CustomerFactory(email="ada@example.com", member_id="M111111116")
    again = CustomerFactory(email="ada2@example.com", member_id="M222222224")
    customer_merge(survivor=ada, merged=again, actor=manager, confirm_member_ids=True)

    placed = checkout_as(web, xuhui, tee, {"member_id": "M222222224"})

    assert placed.json()["customer"]["member_id"] == "M111111116"
    assert ada.orders.count() == 1


def test_a_member_id_moves_to_a_survivor_who_had_none(manager):
    ada = CustomerFactory(email="ada@example.com")
    member = CustomerFactory(phone=MOBILE, member_id="M111111116")

    customer_merge(survivor=ada, merged=member, actor=manager)

    ada.refresh_from_db()
    assert (ada.member_id, ada.phone) == ("M111111116", MOBILE)


def test_a_record_already_merged_cannot_be_merged_again(manager):
    ada, old, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    customer_merge(survivor=ada, merged=old, actor=manager)

    with pytest.raises(MergeNotAllowed):
        customer_merge(survivor=third, merged=old, actor=manager)
    with pytest.raises(MergeNotAllowed):
        customer_merge(survivor=old, merged=third, actor=manager)


def test_a_customer_is_not_merged_with_itself(manager):
    ada = CustomerFactory()

    with pytest.raises(MergeNotAllowed):
        customer_merge(survivor=ada, merged=ada, actor=manager)


def test_merging_a_survivor_leads_its_earlier_records_to_the_new_survivor(web, manager):
    first, second, third = (
        CustomerFactory(email=f"{n}@example.com") for n in ("one", "two", "three")
    )
    customer_merge(survivor=second, merged=first, actor=manager)

    customer_merge(survivor=third, merged=second, actor=manager)

    assert Customer.objects.get(pk=first.pk).merged_into == third
    found = web.get("/api/v1/customers", {"email": "one@example.com"}).json()["results"]
    assert [c["id"] for c in found] == [third.pk]


def test_an_order_that_raced_the_merge_onto_the_merged_record_is_in_the_survivors_history(
    two_records, xuhui
):
    online, till = two_records
    merged = till.customer
    customer_merge(survivor=online.customer, merged=merged, actor=None)
    # A checkout that found the merged record just before the merge committed:
    Order.objects.filter(pk=till.pk).update(customer=merged)

    at_the_counter = staff_client(xuhui)
    history = at_the_counter.get("/api/v1/orders", {"customer": "ada@example.com"}).json()

    assert {o["number"] for o in history["results"]} == {online.number, till.number}

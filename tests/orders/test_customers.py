"""One customer across web, app and stores, found by email or phone however they are written."""

import pytest
from django.contrib.auth import get_user_model

from customers.models import Customer
from customers.services import customer_get_or_create, normalise_phone
from tests.factories import assert_stock_consistent, staff_client
from tests.orders.factories import CustomerFactory, body, pickup_at, post_checkout, stock_put

MOBILE = "+8613800138000"


@pytest.mark.parametrize(
    "written",
    ["+8613800138000", "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000"],
)
def test_a_mobile_number_written_any_way_is_one_number(written):
    assert normalise_phone(written) == MOBILE


@pytest.mark.parametrize("written", ["12345", "not a phone", "+86 000"])
def test_a_number_that_cannot_be_dialled_is_refused(written):
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(written)


def test_email_in_another_case_is_the_same_customer(db):
    first = customer_get_or_create(email="Ada.Lovelace@Example.com", name="Ada")

    again = customer_get_or_create(email="  ada.lovelace@EXAMPLE.COM ")

    assert again.pk == first.pk
    assert first.email == "ada.lovelace@example.com"
    assert Customer.objects.count() == 1


def test_phone_written_differently_is_the_same_customer(db):
    first = customer_get_or_create(phone="+8613800138000")

    again = customer_get_or_create(phone="138 0013 8000")

    assert again.pk == first.pk
    assert Customer.objects.count() == 1


def test_a_new_email_is_added_to_the_customer_found_by_phone(db):
    at_the_till = customer_get_or_create(phone="138 0013 8000", name="Ada")

    online = customer_get_or_create(email="ada@example.com", phone="+8613800138000")

    assert online.pk == at_the_till.pk
    at_the_till.refresh_from_db()
    assert (at_the_till.email, at_the_till.phone, at_the_till.name) == (
        "ada@example.com",
        MOBILE,
        "Ada",
    )


def test_a_phone_held_by_someone_else_is_not_taken_over(db):
    owner = CustomerFactory(email=None, phone=MOBILE)
    other = CustomerFactory(email="bob@example.com")

    found = customer_get_or_create(email="bob@example.com", phone="138 0013 8000")

    assert found.pk == other.pk
    other.refresh_from_db()
    owner.refresh_from_db()
    assert (other.phone, owner.phone) == (None, MOBILE)


def test_store_and_web_orders_of_one_person_show_together(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    in_store = post_checkout(
        staff_client(xuhui),
        body(
            [(tee, 1)],
            channel="store",
            delivery={"method": "carry_out", "location": "SH-XUHUI"},
            email=None,
            phone="138 0013 8000",
        ),
    ).json()
    online = post_checkout(
        web,
        body([(tee, 1)], delivery=pickup_at(xuhui), email="Ada@Example.com", phone=MOBILE),
    ).json()

    by_email = web.get("/api/v1/orders", {"customer": "ADA@example.com"}).json()
    by_phone = staff_client(xuhui).get("/api/v1/orders", {"customer": "138 0013 8000"}).json()

    both = {in_store["number"], online["number"]}
    assert {o["number"] for o in by_email["results"]} == both
    assert {o["number"] for o in by_phone["results"]} == both
    assert {o["channel"] for o in by_email["results"]} == {"store", "web"}
    [customer] = Customer.objects.all()
    assert (customer.email, customer.phone) == ("ada@example.com", MOBILE)


def test_orders_of_an_unknown_customer_are_an_empty_list(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui), email="ada@example.com"))

    response = web.get("/api/v1/orders", {"customer": "nobody@example.com"})

    assert response.status_code == 200
    assert response.json()["results"] == []


def _checkout_as(client, location, **customer) -> dict:
    payload = body([("TEE-WHITE-M", 1)], delivery=pickup_at(location))
    payload["customer"] = customer
    return post_checkout(client, payload)


def test_a_member_id_typed_any_way_at_checkout_finds_the_member(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    member = CustomerFactory(email="ada@example.com", member_id="M123456782")

    placed = _checkout_as(web, xuhui, member_id=" m 1234-56782 ")

    assert placed.status_code == 201, placed.content
    assert placed.json()["customer"]["member_id"] == "M123456782"
    assert member.orders.get().number == placed.json()["number"]
    found = web.get("/api/v1/orders", {"customer": "m123456782"}).json()
    assert [o["number"] for o in found["results"]] == [placed.json()["number"]]


def test_a_member_id_wins_over_an_email_someone_else_holds(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    member = CustomerFactory(email="ada@example.com", member_id="M123456782")
    bob = CustomerFactory(email="bob@example.com")

    placed = _checkout_as(web, xuhui, member_id="M123456782", email="bob@example.com")

    assert placed.status_code == 201
    assert member.orders.count() == 1
    assert not bob.orders.exists()
    assert Customer.objects.get(pk=member.pk).email == "ada@example.com"


def test_an_unknown_member_id_at_checkout_is_a_400_and_nothing_is_written(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    placed = _checkout_as(web, xuhui, member_id="M000000000", email="ada@example.com")

    assert placed.status_code == 400
    assert placed.json()["code"] == "unknown_member"
    assert placed.json()["errors"] == {"customer": {"member_id": ["No member has this id."]}}
    assert not Customer.objects.exists()
    assert_stock_consistent()


def test_the_former_loyalty_id_field_still_names_the_member(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    member = CustomerFactory(phone=MOBILE, member_id="M123456782")

    placed = _checkout_as(web, xuhui, loyalty_id="M123456782")

    assert placed.status_code == 201
    assert member.orders.count() == 1


# --- editing a customer in the admin -------------------------------------------------------


@pytest.fixture
def admin_browser(db, client):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-x-123456")
    client.force_login(boss)
    return client


def _admin_edit(admin_browser, customer: Customer, **fields):
    form = {"email": customer.email or "", "phone": customer.phone or "", "name": customer.name,
            "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0", "events-MIN_NUM_FORMS": "0",
            "events-MAX_NUM_FORMS": "1000", "orders-TOTAL_FORMS": "0",
            "orders-INITIAL_FORMS": "0", "orders-MIN_NUM_FORMS": "0",
            "orders-MAX_NUM_FORMS": "1000", "points-TOTAL_FORMS": "0",
            "points-INITIAL_FORMS": "0", "points-MIN_NUM_FORMS": "0",
            "points-MAX_NUM_FORMS": "0"} | fields  # fmt: skip
    return admin_browser.post(f"/admin/customers/customer/{customer.pk}/change/", form)


def test_an_admin_edit_is_normalised_so_the_next_checkout_finds_the_same_customer(
    admin_browser, web, xuhui, tee
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    customer = CustomerFactory(email="old@example.com")

    response = _admin_edit(admin_browser, customer, email="A@Example.COM ", phone="138 0013 8000")

    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert (customer.email, customer.phone) == ("a@example.com", MOBILE)
    placed = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui), email="a@example.com"))
    assert placed.status_code == 201
    assert Customer.objects.count() == 1
    assert customer.orders.get().number == placed.json()["number"]


def test_an_admin_edit_with_an_invalid_phone_is_refused_and_changes_nothing(admin_browser):
    customer = CustomerFactory(email="ada@example.com")

    response = _admin_edit(admin_browser, customer, phone="12")

    assert response.status_code == 200
    assert "Not a valid phone number." in response.content.decode()
    customer.refresh_from_db()
    assert customer.phone is None


def test_an_admin_edit_to_another_customers_email_written_differently_is_refused(admin_browser):
    CustomerFactory(email="ada@example.com")
    customer = CustomerFactory(email="bob@example.com")

    response = _admin_edit(admin_browser, customer, email=" ADA@example.com")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.email == "bob@example.com"

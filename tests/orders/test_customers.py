"""One customer across web, app and stores, found by email or phone however they are written."""

import pytest
from django.contrib.auth import get_user_model

from customers.models import Customer
from customers.services import customer_get_or_create, normalise_phone
from tests.factories import staff_client
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


def _checkout_with_loyalty(client, location, email: str, loyalty_id: str) -> dict:
    payload = body([("TEE-WHITE-M", 1)], delivery=pickup_at(location), email=email)
    payload["customer"]["loyalty_id"] = loyalty_id
    response = post_checkout(client, payload)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_loyalty_id_given_at_checkout_finds_the_customers_orders(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    order = _checkout_with_loyalty(web, xuhui, "ada@example.com", "LOY-0042")

    found = web.get("/api/v1/orders", {"customer": "LOY-0042"}).json()
    assert [o["number"] for o in found["results"]] == [order["number"]]
    assert Customer.objects.get().loyalty_id == "LOY-0042"


def test_a_customers_loyalty_id_is_never_replaced_by_another(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    CustomerFactory(email="ada@example.com", loyalty_id="LOY-0042")

    _checkout_with_loyalty(web, xuhui, "ada@example.com", "LOY-9999")

    assert Customer.objects.get().loyalty_id == "LOY-0042"
    assert web.get("/api/v1/orders", {"customer": "LOY-9999"}).json()["results"] == []


def test_a_loyalty_id_held_by_someone_else_is_not_given_to_a_second_customer(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    holder = CustomerFactory(email="bob@example.com", loyalty_id="LOY-0042")

    _checkout_with_loyalty(web, xuhui, "ada@example.com", "LOY-0042")

    ada = Customer.objects.get(email="ada@example.com")
    assert (ada.loyalty_id, Customer.objects.get(pk=holder.pk).loyalty_id) == ("", "LOY-0042")


# --- editing a customer in the admin -------------------------------------------------------


@pytest.fixture
def admin_browser(db, client):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-x-123456")
    client.force_login(boss)
    return client


def _admin_edit(admin_browser, customer: Customer, **fields):
    form = {"email": customer.email or "", "phone": customer.phone or "", "name": customer.name,
            "loyalty_id": customer.loyalty_id, "orders-TOTAL_FORMS": "0",
            "orders-INITIAL_FORMS": "0", "orders-MIN_NUM_FORMS": "0",
            "orders-MAX_NUM_FORMS": "1000"} | fields  # fmt: skip
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

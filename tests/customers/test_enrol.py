"""Enrolment: a member id issued at checkout, through the API or at the till, printed on the
order and on the customer's messages."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from tests.customers.factories import MOBILE, CustomerFactory, assert_all_clean, checkout_as
from tests.factories import staff_client
from tests.inventory.factories import stock_put

pytestmark = pytest.mark.django_db

MEMBER_ID = re.compile(r"^M\d{9}$")


def luhn_ok(member_id: str) -> bool:
    digits = [int(d) for d in member_id[1:]]
    total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return total % 10 == 0


@pytest.fixture
def shelf(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=20)


def test_enrolling_at_checkout_issues_a_member_id_shown_on_the_order(web, xuhui, tee, shelf):
    placed = checkout_as(web, xuhui, tee, {"email": "ada@example.com"}, enrol=True)

    assert placed.status_code == 201
    member_id = placed.json()["customer"]["member_id"]
    assert MEMBER_ID.match(member_id)
    assert luhn_ok(member_id)
    customer = Customer.objects.get()
    assert (customer.member_id, customer.enrolled_at is not None) == (member_id, True)
    detail = web.get(f"/api/v1/orders/{placed.json()['number']}").json()
    assert detail["customer"]["member_id"] == member_id
    assert_all_clean()


def test_a_member_enrolling_again_keeps_the_id_it_has(web, xuhui, tee, shelf):
    CustomerFactory(email="ada@example.com", member_id="M123456782")

    placed = checkout_as(web, xuhui, tee, {"email": "ada@example.com"}, enrol=True)

    assert placed.json()["customer"]["member_id"] == "M123456782"


def test_without_enrol_a_customer_is_no_member(web, xuhui, tee, shelf):
    placed = checkout_as(web, xuhui, tee, {"email": "ada@example.com"})

    assert placed.json()["customer"]["member_id"] is None


def test_enrolling_a_known_customer_at_checkout_costs_one_statement_at_most(web, xuhui, tee, shelf):
    CustomerFactory(email="ada@example.com")
    CustomerFactory(email="bob@example.com")
    web.get("/api/v1/orders")  # the token's last use is written once a minute

    with CaptureQueriesContext(connection) as plain:
        checkout_as(web, xuhui, tee, {"email": "ada@example.com"})
    with CaptureQueriesContext(connection) as enrolling:
        placed = checkout_as(web, xuhui, tee, {"email": "bob@example.com"}, enrol=True)

    assert placed.json()["customer"]["member_id"]
    assert len(enrolling.captured_queries) <= len(plain.captured_queries) + 1


def test_a_new_customer_enrolling_at_checkout_costs_no_statement_more(web, xuhui, tee, shelf):
    checkout_as(web, xuhui, tee, {"email": "warm-up@example.com"})

    with CaptureQueriesContext(connection) as plain:
        checkout_as(web, xuhui, tee, {"email": "ada@example.com"})
    with CaptureQueriesContext(connection) as enrolling:
        checkout_as(web, xuhui, tee, {"email": "bob@example.com"}, enrol=True)

    assert len(enrolling.captured_queries) <= len(plain.captured_queries)


def test_the_customers_emails_carry_the_member_id(
    web, xuhui, tee, shelf, django_capture_on_commit_callbacks
):
    placed = checkout_as(web, xuhui, tee, {"email": "ada@example.com"}, enrol=True)
    member_id = placed.json()["customer"]["member_id"]
    number = placed.json()["number"]

    with django_capture_on_commit_callbacks(execute=True):
        web.post(f"/api/v1/orders/{number}/cancel", {}, format="json")

    [cancelled] = [m for m in mail.outbox if m.to == ["ada@example.com"]]
    assert f"Your member id: {member_id}" in cancelled.body


def test_enrolling_through_the_api_creates_a_member_known_by_phone(web):
    response = web.post("/api/v1/customers/enrol", {"phone": "138 0013 8000", "name": "Ada"})

    assert response.status_code == 200
    body = response.json()
    assert MEMBER_ID.match(body["member_id"])
    assert (body["phone"], body["name"]) == (MOBILE, "Ada")
    again = web.post("/api/v1/customers/enrol", {"phone": MOBILE}).json()
    assert (again["id"], again["member_id"]) == (body["id"], body["member_id"])
    assert Customer.objects.count() == 1


def test_staff_enrol_a_customer_they_found_at_the_till(xuhui):
    ada = CustomerFactory(email="ada@example.com")

    response = staff_client(xuhui).post("/api/v1/customers/enrol", {"email": "ADA@example.com"})

    ada.refresh_from_db()
    assert response.json()["id"] == ada.pk
    assert response.json()["member_id"] == ada.member_id is not None


def test_enrolling_without_an_email_or_phone_is_a_400(web):
    response = web.post("/api/v1/customers/enrol", {"name": "Ada"})

    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_a_member_is_found_at_checkout_by_member_id_alone(web, xuhui, tee, shelf):
    enrolled = web.post("/api/v1/customers/enrol", {"phone": MOBILE}).json()

    placed = checkout_as(web, xuhui, tee, {"member_id": enrolled["member_id"].lower()})

    assert placed.status_code == 201
    assert Customer.objects.get().orders.count() == 1

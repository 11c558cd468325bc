"""Finding a customer by exact phone, email or member id, however typed; one customer by id
for whoever serves them."""

import pytest

from customers.services import customer_merge
from tests.customers.factories import MOBILE, CustomerFactory
from tests.factories import place_order, staff_client
from tests.inventory.factories import stock_put

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db):
    return CustomerFactory(
        email="ada@example.com", phone=MOBILE, name="Ada", member_id="M123456782"
    )


@pytest.mark.parametrize(
    ("param", "typed"),
    [
        ("phone", "138 0013 8000"),
        ("phone", "+86 138-0013-8000"),
        ("email", "  ADA@Example.com "),
        ("member", "m 1234 56782"),
        ("member", "M123456782"),
    ],
)
def test_a_customer_is_found_by_an_identifier_typed_any_way(web, ada, param, typed):
    response = web.get("/api/v1/customers", {param: typed})

    assert response.status_code == 200
    [found] = response.json()["results"]
    assert found == {
        "id": ada.pk,
        "name": "Ada",
        "email": "ada@example.com",
        "phone": MOBILE,
        "member_id": "M123456782",
        "enrolled_at": None,
        "tier": "member",  # the lowest tier until they spend
        "points": {"balance": 0, "value": "0.00", "held": 0, "pending": 0, "expiring": []},
    }


def test_a_lookup_without_an_identifier_never_lists_everyone(web, ada):
    response = web.get("/api/v1/customers")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_lookup_by_a_phone_that_cannot_be_dialled_is_a_400(web, ada):
    response = web.get("/api/v1/customers", {"phone": "12"})

    assert response.status_code == 400
    assert response.json()["errors"] == {"phone": ["Not a valid phone number."]}


def test_nobody_found_is_an_empty_list(web, ada):
    response = web.get("/api/v1/customers", {"email": "nobody@example.com"})

    assert (response.status_code, response.json()["results"]) == (200, [])


def test_staff_of_any_store_find_a_customer_they_never_served(xuhui, ada):
    response = staff_client(xuhui).get("/api/v1/customers", {"phone": "13800138000"})

    assert [c["id"] for c in response.json()["results"]] == [ada.pk]


def test_a_merged_records_identifiers_find_the_survivor(web, ada):
    old = CustomerFactory(email="ada.old@example.com", phone="+8613900139000")
    customer_merge(survivor=ada, merged=old, actor=None)

    by_email = web.get("/api/v1/customers", {"email": "ada.old@example.com"}).json()
    by_phone = web.get("/api/v1/customers", {"phone": "139 0013 9000"}).json()

    assert [c["id"] for c in by_email["results"]] == [ada.pk]
    assert [c["id"] for c in by_phone["results"]] == [ada.pk]


def test_a_plain_account_may_not_look_customers_up(user_client, ada):
    response = user_client().get("/api/v1/customers", {"email": "ada@example.com"})

    assert response.status_code == 403


def test_an_anonymous_caller_may_not_look_customers_up(api_client, ada):
    response = api_client.get("/api/v1/customers", {"email": "ada@example.com"})

    assert response.status_code == 401


def test_a_channel_opens_the_customers_who_ordered_through_it_and_nobody_else(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], location=xuhui, email="ada@example.com")
    stranger = CustomerFactory(email="bob@example.com")

    mine = web.get(f"/api/v1/customers/{order.customer_id}")
    other = web.get(f"/api/v1/customers/{stranger.pk}")

    assert mine.status_code == 200
    assert mine.json()["email"] == "ada@example.com"
    assert (other.status_code, other.json()["code"]) == (404, "not_found")


def test_an_app_channel_does_not_open_a_web_customer_by_id(xuhui, tee):
    from tests.factories import channel_client

    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], location=xuhui, email="ada@example.com")

    assert channel_client("app").get(f"/api/v1/customers/{order.customer_id}").status_code == 404


def test_staff_open_the_customers_of_their_stores_orders_only(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], location=xuhui, email="ada@example.com")

    at_xuhui = staff_client(xuhui).get(f"/api/v1/customers/{order.customer_id}")
    at_pudong = staff_client(pudong).get(f"/api/v1/customers/{order.customer_id}")

    assert (at_xuhui.status_code, at_pudong.status_code) == (200, 404)


def test_an_unknown_id_is_a_404(web):
    response = web.get("/api/v1/customers/999999")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")

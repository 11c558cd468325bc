"""Junk sent to any orders endpoint is a 400 or a 404 in the API's error shape, never a 500."""

from decimal import Decimal

import pytest

from customers.models import Customer
from orders.models import Order
from tests.factories import new_key
from tests.orders.factories import (
    SkuFactory,
    body,
    level_of,
    pickup_at,
    post_checkout,
    ship_to,
    stock_put,
)

NUL = "\x00"
LONG_EMAIL = "a" * 250 + "@example.com"


@pytest.fixture
def order(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    response = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))
    assert response.status_code == 201, response.content
    return response.json()


def _checkout_body(**changes) -> dict:
    payload = body([("TEE-WHITE-M", 1)], delivery={"method": "pickup", "location": "SH-XUHUI"})
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = payload
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[leaf] = value
    return payload


# (method, path, data, headers): `{number}` and `{line}` are those of a real order.
BAD_REQUESTS = [
    # order numbers that are not ones we issue
    pytest.param("get", "/api/v1/orders/%00abc", None, {}, 404, id="detail-nul"),
    pytest.param("get", "/api/v1/orders/%00abc/timeline", None, {}, 404, id="timeline-nul"),
    pytest.param("post", "/api/v1/orders/%00abc/cancel", {}, {}, 404, id="cancel-nul"),
    pytest.param(
        "post", "/api/v1/orders/%00abc/lines/1/cancel", {"quantity": 1}, {}, 404, id="line-nul"
    ),
    pytest.param("get", "/api/v1/orders/om22222222", None, {}, 404, id="detail-lowercase"),
    pytest.param("get", "/api/v1/orders/OM" + "2" * 500, None, {}, 404, id="detail-too-long"),
    pytest.param("get", "/api/v1/orders/OM2222222%00", None, {}, 404, id="detail-nul-inside"),
    pytest.param("get", "/api/v1/orders/{number}/nonsense", None, {}, 404, id="unknown-action"),
    pytest.param(
        "post",
        "/api/v1/orders/{number}/lines/99999999999999999999/cancel",
        {"quantity": 1},
        {},
        404,
        id="line-id-out-of-range",
    ),
    # list filters
    pytest.param("get", "/api/v1/orders?status=%00", None, {}, 400, id="list-status-nul"),
    pytest.param("get", "/api/v1/orders?status=lost", None, {}, 400, id="list-status-unknown"),
    pytest.param("get", "/api/v1/orders?channel=%00", None, {}, 400, id="list-channel-nul"),
    pytest.param("get", "/api/v1/orders?channel=fax", None, {}, 400, id="list-channel-unknown"),
    pytest.param("get", "/api/v1/orders?customer=%00@x", None, {}, 400, id="list-customer-nul"),
    pytest.param(
        "get", "/api/v1/orders?customer=" + "9" * 300, None, {}, 400, id="list-customer-long"
    ),
    # cancel bodies
    pytest.param(
        "post", "/api/v1/orders/{number}/cancel", {"reason": NUL}, {}, 400, id="cancel-reason-nul"
    ),
    pytest.param(
        "post",
        "/api/v1/orders/{number}/lines/{line}/cancel",
        {"quantity": "lots"},
        {},
        400,
        id="line-quantity-not-a-number",
    ),
    # checkout
    pytest.param(
        "post", "/api/v1/checkout", _checkout_body(customer__email=LONG_EMAIL), {}, 400, id="email"
    ),
    pytest.param(
        "post", "/api/v1/checkout", _checkout_body(customer__name=NUL), {}, 400, id="name-nul"
    ),
    pytest.param(
        "post", "/api/v1/checkout", _checkout_body(customer__phone=NUL), {}, 400, id="phone-nul"
    ),
    pytest.param(
        "post", "/api/v1/checkout", _checkout_body(lines__0__sku=NUL), {}, 400, id="sku-nul"
    ),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(lines__0__quantity=10**30),
        {},
        400,
        id="quantity-huge",
    ),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(delivery__location=NUL),
        {},
        400,
        id="location-nul",
    ),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(delivery=ship_to(31.2, 121.4, line1=NUL)),
        {},
        400,
        id="address-nul",
    ),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(delivery=ship_to("NaN", 121.4)),
        {},
        400,
        id="latitude-nan",
    ),
    pytest.param("post", "/api/v1/checkout", _checkout_body(store=NUL), {}, 400, id="store-nul"),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(),
        {"HTTP_IDEMPOTENCY_KEY": "key" + NUL},
        400,
        id="idempotency-key-nul",
    ),
    pytest.param(
        "post",
        "/api/v1/checkout",
        _checkout_body(),
        {"HTTP_IDEMPOTENCY_KEY": "key\x1b[0m"},
        400,
        id="idempotency-key-control-character",
    ),
]


@pytest.mark.parametrize(("method", "path", "data", "headers", "expected"), BAD_REQUESTS)
def test_junk_input_is_400_or_404_in_the_error_shape(
    web, order, xuhui, tee, method, path, data, headers, expected
):
    path = path.format(number=order["number"], line=order["lines"][0]["id"])
    headers = {"HTTP_IDEMPOTENCY_KEY": new_key(), **headers}

    if method == "get":
        response = web.get(path, **headers)
    else:
        response = web.post(path, data, format="json", **headers)

    assert response.status_code == expected, response.content
    assert response.json()["code"] == ("invalid" if expected == 400 else "not_found")
    assert Order.objects.count() == 1
    assert Order.objects.get().status == Order.Status.PLACED
    assert level_of(xuhui, tee).reserved == 1


def test_list_filters_give_the_field_errors(web, order):
    response = web.get("/api/v1/orders", {"status": "lost", "channel": "fax"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "channel"}


def test_list_filters_left_blank_are_ignored(web, order):
    response = web.get("/api/v1/orders", {"status": "", "channel": "", "customer": ""})

    assert response.status_code == 200
    assert [o["number"] for o in response.json()["results"]] == [order["number"]]


def test_a_page_of_the_order_list_holds_at_most_200_orders(web, order):
    customer = Customer.objects.get()
    Order.objects.bulk_create(
        Order(
            number=f"OM{n:08d}".replace("0", "Z").replace("1", "Y"),
            customer=customer,
            channel="web",
            delivery_method="pickup",
            currency="CNY",
            subtotal=Decimal("1.00"),
            grand_total=Decimal("1.00"),
        )
        for n in range(250)
    )

    response = web.get("/api/v1/orders", {"limit": 100000})

    assert response.status_code == 200
    page = response.json()
    assert (page["count"], len(page["results"])) == (251, 200)
    assert "limit=200" in page["next"]


# --- order totals ---------------------------------------------------------------------------

TOP_PRICE = Decimal("1000000.00")  # the catalogue caps SKU prices here


def _big_order(price: Decimal, kunshan) -> dict:
    skus = [SkuFactory(code=f"BIG-{n:03d}", price=price) for n in range(100)]
    for sku in skus:
        stock_put(location=kunshan, sku=sku, on_hand=99)
    return body([(sku, 99) for sku in skus], delivery=ship_to(31.2, 121.4))


def test_the_largest_order_the_catalogue_allows_is_placed(web, kunshan):
    response = post_checkout(web, _big_order(TOP_PRICE, kunshan))

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "9900000000.00"  # 100 lines x 99 x 1,000,000.00


def test_an_order_whose_total_does_not_fit_is_400_and_holds_nothing(web, kunshan):
    # 100 x 99 x 1,010,101.02 = 10,000,000,098.00: one digit more than a total may have.
    response = post_checkout(web, _big_order(Decimal("1010101.02"), kunshan))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "order_total_too_large"
    assert not Order.objects.exists()
    assert level_of(kunshan, SkuFactory(code="BIG-000")).reserved == 0


def test_checkouts_validated_at_once_in_several_threads_each_get_their_own_errors():
    from concurrent.futures import ThreadPoolExecutor

    from orders.serializers import CheckoutInputSerializer

    def bad(n: int) -> dict:
        payload = _checkout_body(lines__0__quantity=0, channel=f"nowhere-{n}")
        payload["customer"] = {"email": f"not-an-email-{n}"}
        payload["delivery"] = {"method": "ship", "ship_to_store": n % 2 == 0}
        return payload

    def errors(n: int) -> dict:
        serializer = CheckoutInputSerializer(data=bad(n))
        assert not serializer.is_valid()
        return serializer.errors

    expected = {n: errors(n) for n in range(8)}
    assert expected[1]["channel"] == ['"nowhere-1" is not a valid choice.']
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(errors, [n % 8 for n in range(400)]))
    assert answers == [expected[n % 8] for n in range(400)]

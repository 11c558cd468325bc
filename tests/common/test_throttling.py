"""API rate limits: a client over its rate gets a JSON 429 and nothing is written; wrong tokens
from one address are cut off before they can be tried at speed."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import SimpleRateThrottle

from common.cache import ForgivingRedisCache
from common.throttling import ScopedWindowThrottle
from orders.models import Order
from tests.factories import channel_client
from tests.orders.factories import body, pickup_at, post_checkout, stock_put


@pytest.fixture
def rates(monkeypatch):
    """Set a rate for this test (DRF reads its rates once, at import)."""

    def set_rate(scope: str, rate: str) -> None:
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rate


def test_a_client_over_its_checkout_rate_gets_429_and_no_order(xuhui, tee, rates):
    rates("checkout", "2/min")
    stock_put(location=xuhui, sku=tee, on_hand=10)
    web, app = channel_client("web"), channel_client("app")
    order = body([(tee, 1)], delivery=pickup_at(xuhui))

    answers = [post_checkout(web, order).status_code for _ in range(3)]
    other_client = post_checkout(app, body([(tee, 1)], channel="app", delivery=pickup_at(xuhui)))

    assert answers == [201, 201, 429]
    assert other_client.status_code == 201, "the rate is each client's own"
    assert Order.objects.count() == 3


def test_the_429_says_when_to_try_again(xuhui, tee, rates):
    rates("checkout", "1/min")
    web = channel_client("web")
    post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    refused = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0


@pytest.mark.django_db
def test_wrong_tokens_from_one_address_are_cut_off_even_with_a_right_one(rates):
    rates("token_failure", "3/min")
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    right = channel_client("web")

    tries = [guesser.get("/api/v1/orders").status_code for _ in range(4)]
    after = right.get("/api/v1/orders", REMOTE_ADDR="127.0.0.1")
    elsewhere = right.get("/api/v1/orders", REMOTE_ADDR="10.0.0.7")

    assert tries == [401, 401, 401, 429]
    assert after.status_code == 429
    assert elsewhere.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("customer_lookup", "/api/v1/customers?phone=+8613800000000"),
        ("returns", "/api/v1/returns?code=R7K2QX"),
    ],
)
def test_customer_lookups_and_returns_have_their_own_rate(rates, scope, path):
    rates(scope, "2/min")
    web = channel_client("web")

    answers = [web.get(path).status_code for _ in range(3)]

    assert answers[:2] == [200, 200]
    assert answers[2] == 429


def _window_throttle(cache) -> tuple[ScopedWindowThrottle, object, object]:
    throttle = ScopedWindowThrottle()
    throttle.cache = cache
    view = type("View", (), {"throttle_scope": "checkout"})()
    request = APIRequestFactory().post("/api/v1/checkout", REMOTE_ADDR="10.0.0.7")
    request.user = AnonymousUser()
    return throttle, request, view


def test_concurrent_requests_in_every_server_process_are_each_counted_once(rates):
    """The limit holds when many workers count at the same moment in the shared Redis: no
    more requests are let through than the rate allows, and none fewer."""
    rates("checkout", "40/min")
    cache = ForgivingRedisCache(
        os.environ["REDIS_URL"], {"KEY_PREFIX": f"throttle-{uuid.uuid4().hex}"}
    )

    def client_requests(_) -> list[bool]:
        throttle, request, view = _window_throttle(cache)
        return [throttle.allow_request(request, view) for _ in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = [ok for answers in pool.map(client_requests, range(8)) for ok in answers]

    assert allowed.count(True) == 40
    throttle, request, view = _window_throttle(cache)
    assert throttle.allow_request(request, view) is False
    assert 1 <= throttle.wait() <= 60, "Retry-After: the rest of the window opened by the first"


def test_a_redis_that_is_away_counts_nothing_and_refuses_nothing(rates):
    rates("checkout", "1/min")
    cache = ForgivingRedisCache("redis://127.0.0.1:18615/0", {"OPTIONS": {"socket_timeout": 1}})
    throttle, request, view = _window_throttle(cache)

    assert [throttle.allow_request(request, view) for _ in range(3)] == [True, True, True]

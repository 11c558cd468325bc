"""Idempotency-Key on checkout: a retried request never places a second order."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from common.models import IdempotencyRecord
from common.tasks import purge_idempotency_keys
from inventory.models import StockLevel
from inventory.services import MovementOrigin, stock_receive
from inventory.services.catalogue import sku_upsert_many
from orders.models import Order
from stores.models import Location
from tests.factories import channel_client, staff_client
from tests.orders.factories import body, level_of, pickup_at, post_checkout, stock_put

THREAD_TIMEOUT = 60


@pytest.fixture
def payload(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    return body([(tee, 2)], delivery=pickup_at(xuhui))


def test_checkout_without_an_idempotency_key_is_400(web, payload, xuhui, tee):
    missing = web.post("/api/v1/checkout", payload, format="json")
    blank = web.post("/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY="  ")
    too_long = post_checkout(web, payload, key="k" * 256)

    for response in (missing, blank, too_long):
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert "Idempotency-Key" in response.json()["errors"]
    assert not Order.objects.exists()
    assert level_of(xuhui, tee).reserved == 0


def test_same_key_and_body_replays_the_first_order(web, payload, xuhui, tee):
    first = post_checkout(web, payload, key="order-attempt-1")

    again = post_checkout(web, payload, key="order-attempt-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["number"] == first.json()["number"]
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Order.objects.count() == 1
    assert level_of(xuhui, tee).reserved == 2


def test_the_same_body_with_its_keys_in_another_order_is_the_same_request(web, payload):
    first = post_checkout(web, payload, key="k-1")
    reordered = dict(reversed(list(payload.items())))

    again = post_checkout(web, reordered, key="k-1")

    assert again.status_code == 201
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_same_key_with_another_body_is_422(web, payload, xuhui, tee):
    post_checkout(web, payload, key="order-attempt-1")
    other = {**payload, "lines": [{"sku": tee.code, "quantity": 3}]}

    response = post_checkout(web, other, key="order-attempt-1")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert level_of(xuhui, tee).reserved == 2


def test_keys_belong_to_one_api_client(payload, xuhui, tee):
    web_client, app_client = channel_client("web"), channel_client("app")
    app_payload = {**payload, "channel": "app"}

    on_web = post_checkout(web_client, payload, key="cart-42")
    on_app = post_checkout(app_client, app_payload, key="cart-42")

    assert (on_web.status_code, on_app.status_code) == (201, 201)
    assert on_web.json()["number"] != on_app.json()["number"]
    assert "Idempotent-Replayed" not in on_app.headers
    assert Order.objects.count() == 2
    assert level_of(xuhui, tee).reserved == 4


def test_two_members_of_staff_may_use_the_same_key(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    sale = body(
        [(tee, 1)], channel="store", delivery={"method": "carry_out", "location": xuhui.code}
    )

    first = post_checkout(staff_client(xuhui), sale, key="till-1")
    second = post_checkout(staff_client(xuhui), sale, key="till-1")

    assert first.json()["number"] != second.json()["number"]
    assert level_of(xuhui, tee).on_hand == 3


def test_keys_are_remembered_per_client_not_per_token(payload):
    """Two tokens of the web channel are one API client: a retry on the other token replays."""
    one = post_checkout(channel_client("web"), payload, key="shared")
    other = post_checkout(channel_client("web"), payload, key="shared")

    assert other.json()["number"] == one.json()["number"]
    assert other.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_after_a_shortage_the_same_key_places_the_order_once_stock_is_back(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    wanted = body([(tee, 2)], delivery=pickup_at(xuhui))
    refused = post_checkout(web, wanted, key="retry-me")
    assert refused.status_code == 409
    assert not IdempotencyRecord.objects.exists()

    stock_receive(location=xuhui, sku=tee, quantity=5, origin=MovementOrigin(reference="delivery"))
    placed = post_checkout(web, wanted, key="retry-me")
    replayed = post_checkout(web, wanted, key="retry-me")

    assert placed.status_code == 201, placed.content
    assert "Idempotent-Replayed" not in placed.headers
    assert replayed.json()["number"] == placed.json()["number"]
    assert Order.objects.count() == 1
    assert level_of(xuhui, tee).reserved == 2


def test_replay_after_a_cancel_returns_the_first_response_and_places_nothing(
    web, payload, xuhui, tee
):
    first = post_checkout(web, payload, key="k-cancel")
    web.post(f"/api/v1/orders/{first.json()['number']}/cancel", {}, format="json")

    again = post_checkout(web, payload, key="k-cancel")

    assert again.status_code == 201
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.get().status == Order.Status.CANCELLED
    assert level_of(xuhui, tee).reserved == 0


# --- the first answer stands, whatever changed since -----------------------------------------


def test_a_retry_after_the_sku_was_deactivated_replays_the_order(web, payload, tee):
    first = post_checkout(web, payload, key="before-delisting")
    sku_upsert_many(
        rows=[{"code": tee.code, "name": tee.name, "price": tee.price, "is_active": False}]
    )

    again = post_checkout(web, payload, key="before-delisting")

    assert again.status_code == 201, again.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Order.objects.count() == 1


def test_a_retry_after_the_store_closed_replays_the_order(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    cashier = staff_client(xuhui)
    sale = body(
        [(tee, 1)], channel="store", delivery={"method": "carry_out", "location": xuhui.code}
    )
    first = post_checkout(cashier, sale, key="till-7")
    Location.objects.filter(pk=xuhui.pk).update(is_active=False)

    again = post_checkout(cashier, sale, key="till-7")

    assert again.status_code == 201, again.content
    assert again.json() == first.json()
    assert level_of(xuhui, tee).on_hand == 4


def test_a_used_key_with_another_body_is_422_even_when_that_body_is_invalid(web, payload):
    post_checkout(web, payload, key="used")
    invalid = {**payload, "lines": [{"sku": "NO-SUCH-SKU", "quantity": 0}]}

    response = post_checkout(web, invalid, key="used")

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


# --- concurrent duplicates ----------------------------------------------------------------


def _in_threads(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_place_one_order_and_both_get_it(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    channel_client("web")  # the channel's user exists before the race
    payload = body([(tee, 2)], delivery=pickup_at(xuhui))
    barrier = threading.Barrier(2, timeout=THREAD_TIMEOUT)
    responses, errors = [], []

    def client() -> None:
        try:
            api = channel_client("web")
            barrier.wait()
            response = post_checkout(api, payload, key="double-click")
            responses.append((response.status_code, response.json().get("number")))
        except Exception as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    _in_threads(client, client)

    assert errors == []
    assert len(responses) == 2
    assert {status for status, _ in responses} == {201}
    assert len({number for _, number in responses}) == 1
    assert Order.objects.count() == 1
    assert level_of(xuhui, tee).reserved == 2


def _blocked_on(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [table],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_retry_in_flight_while_the_first_request_takes_the_last_unit_gets_the_order(xuhui, tee):
    """The retry checked the key before the first request committed and read the stock after:
    it must answer with the order that was placed, not tell the customer it is sold out."""
    stock_put(location=xuhui, sku=tee, on_hand=1)
    channel_client("web")
    payload = body([(tee, 1)], delivery=pickup_at(xuhui))
    responses, errors, locked = {}, [], threading.Event()

    def first_request() -> None:
        # Hold the stock table so the retry stops between its key check and its
        # routing; place the order meanwhile and commit, which lets the retry go on.
        try:
            api = channel_client("web")
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE inventory_stocklevel IN ACCESS EXCLUSIVE MODE")
                locked.set()
                for _ in range(THREAD_TIMEOUT * 10):
                    if _blocked_on("inventory_stocklevel"):
                        break
                    time.sleep(0.1)
                responses["first"] = post_checkout(api, payload, key="flaky-network")
        except Exception as exc:
            errors.append(exc)
        finally:
            locked.set()
            connection.close()

    def retry() -> None:
        try:
            api = channel_client("web")
            assert locked.wait(THREAD_TIMEOUT)
            responses["retry"] = post_checkout(api, payload, key="flaky-network")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    _in_threads(first_request, retry)

    assert errors == []
    first, again = responses["first"], responses["retry"]
    assert first.status_code == 201, first.content
    assert again.status_code == 201, again.content
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(location=xuhui, sku=tee).reserved == 1


def test_keys_are_kept_a_day_at_least_and_forgotten_after_their_time(
    web, payload, xuhui, tee, settings
):
    settings.OMS_IDEMPOTENCY_TTL_HOURS = 48
    day_old = post_checkout(web, payload, key="k-day-old")
    week_old = post_checkout(web, payload, key="k-week-old")
    IdempotencyRecord.objects.filter(key="k-day-old").update(
        created_at=timezone.now() - timedelta(hours=30)
    )
    IdempotencyRecord.objects.filter(key="k-week-old").update(
        created_at=timezone.now() - timedelta(days=7)
    )

    assert purge_idempotency_keys() == 1

    again = post_checkout(web, payload, key="k-day-old")
    anew = post_checkout(web, payload, key="k-week-old")
    assert again.json()["number"] == day_old.json()["number"]
    assert anew.status_code == 201
    assert anew.json()["number"] != week_old.json()["number"]  # forgotten: a new order


def test_a_ttl_under_a_day_still_keeps_keys_for_a_day(web, payload, xuhui, tee, settings):
    settings.OMS_IDEMPOTENCY_TTL_HOURS = 1
    post_checkout(web, payload, key="k-short")
    IdempotencyRecord.objects.filter(key="k-short").update(
        created_at=timezone.now() - timedelta(hours=23)
    )

    assert purge_idempotency_keys() == 0

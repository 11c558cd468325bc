"""Fulfillment with a real Celery worker behind Redis, as in production.

The test process is the API and the beat; the worker process runs the outbox handlers and
the beat tasks, and sends its email to a Redis list this test reads (see worker_mail.py).
Scenarios are grouped so that few workers have to be started.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from common.models import OutboxEvent
from fulfillment.models import FulfillmentOrder
from fulfillment.tasks import escalate_unaccepted, expire_pickups
from orders.models import Order
from tests.conftest import wait_until
from tests.factories import api_checkout, assert_stock_consistent, staff_client, staff_member
from tests.fulfillment.factories import act, level, pickup_code_in, stock_put
from tests.fulfillment.worker_mail import mail_key
from tests.orders.factories import pickup_at

pytestmark = pytest.mark.worker

CUSTOMER = "ada@example.com"
NEAR_XUHUI = {"latitude": 31.19, "longitude": 121.43}


class WorkerMail:
    """What the worker sent, read from its Redis list."""

    def __init__(self, redis_client, name: str) -> None:
        self.redis, self.key = redis_client, mail_key(name)

    def sent(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key, 0, -1)]

    def wait_for(self, *, to: str, subject: str) -> dict:
        def found():
            return next((m for m in self.sent() if to in m["to"] and subject in m["subject"]), None)

        return wait_until(found)


@pytest.fixture
def worker_mail(redis_client, worker_mail_name):
    mail = WorkerMail(redis_client, worker_mail_name)
    yield mail
    redis_client.delete(mail.key)


def ship_to_customer() -> dict:
    return {
        "method": "ship",
        "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai", **NEAR_XUHUI},
    }


def pending_fo(number: str, *, exclude: tuple[int, ...] = ()) -> FulfillmentOrder:
    """Wait until the worker released (or re-routed) the order: its pending fulfillment order."""
    return wait_until(
        lambda: (
            FulfillmentOrder.objects.filter(order__number=number, status="pending")
            .exclude(pk__in=exclude)
            .select_related("location")
            .first()
        )
    )


def status_of(number: str) -> str:
    return Order.objects.get(number=number).status


def all_events_processed() -> bool:
    return not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


def steps(client, fo, *names: str) -> None:
    for name in names:
        data = {"carrier": "SF Express", "tracking_number": "SF777"} if name == "ship" else {}
        response = act(client, fo, name, **data)
        assert response.status_code == 200, response.content


def test_real_worker_releases_reroutes_ships_and_escalates(
    celery_worker_process, worker_mail, web, xuhui, pudong, jingan, tee, at_xuhui, xuhui_associate
):
    for location in (xuhui, pudong, jingan):
        stock_put(location=location, sku=tee, on_hand=5)
    jingan_staff = staff_member(jingan)
    at_jingan = staff_client(user=jingan_staff)

    # Checkout: the worker releases the order to the nearest store and tells its staff.
    number = api_checkout(web, [(tee.code, 2)], ship_to_customer())["number"]
    first = pending_fo(number)
    assert first.location == xuhui
    wait_until(lambda: status_of(number) == "processing")
    worker_mail.wait_for(to=xuhui_associate.email, subject=number)
    assert level(xuhui, tee) == (5, 2)

    # Xuhui cannot find it: its stock goes back at once, the worker re-routes to Jing'an.
    assert act(at_xuhui, first, "reject", reason="not_found").status_code == 200
    assert level(xuhui, tee) == (5, 0)
    second = pending_fo(number, exclude=(first.pk,))
    assert (second.location, second.rerouted_from_id) == (jingan, first.pk)
    assert level(jingan, tee) == (5, 2)
    worker_mail.wait_for(to=jingan_staff.email, subject=number)

    # Jing'an ships it; the worker emails the tracking number.
    steps(at_jingan, second, "accept", "pick", "pack", "ship")
    shipped = worker_mail.wait_for(to=CUSTOMER, subject="is on its way")
    assert number in shipped["subject"]
    assert "Tracking number: SF777" in shipped["body"]
    assert level(jingan, tee) == (3, 0)
    assert status_of(number) == "fulfilled"

    # A second order nobody accepts within the SLA: the beat task re-routes it.
    late = api_checkout(web, [(tee.code, 1)], ship_to_customer())["number"]
    unaccepted = pending_fo(late)
    FulfillmentOrder.objects.filter(pk=unaccepted.pk).update(
        accept_by=timezone.now() - timedelta(minutes=1)
    )
    escalate_unaccepted.delay()
    rerouted = pending_fo(late, exclude=(unaccepted.pk,))
    unaccepted.refresh_from_db()
    assert (unaccepted.status, unaccepted.rejection_reason) == ("rejected", "sla_expired")
    assert rerouted.location != unaccepted.location
    assert level(unaccepted.location, tee)[1] == 0
    assert level(rerouted.location, tee)[1] == 1

    wait_until(all_events_processed)
    assert_stock_consistent()


def test_real_worker_runs_pickups_end_to_end(
    celery_worker_process, worker_mail, web, xuhui, tee, at_xuhui, xuhui_associate
):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    # Buy online, pick up in store, with the code from the email the worker sent.
    number = api_checkout(web, [(tee.code, 2)], pickup_at(xuhui))["number"]
    fo = pending_fo(number)
    assert fo.location == xuhui
    steps(at_xuhui, fo, "accept", "pick", "ready")
    ready = worker_mail.wait_for(to=CUSTOMER, subject=f"Your order {number} is ready")
    code = pickup_code_in(ready["body"])
    event = OutboxEvent.objects.get(topic="fulfillment.ready", payload__fulfillment_order=fo.pk)
    wait_until(lambda: OutboxEvent.objects.get(pk=event.pk).processed_at)
    assert OutboxEvent.objects.get(pk=event.pk).payload == {"fulfillment_order": fo.pk, "round": 1}
    response = act(at_xuhui, fo, "handover", code=code)
    assert response.json()["status"] == "picked_up", response.content
    assert level(xuhui, tee) == (8, 0)
    assert status_of(number) == "fulfilled"

    # Curbside: the customer's app says they are outside; the worker alerts the store.
    curbside = api_checkout(web, [(tee.code, 1)], pickup_at(xuhui, "curbside"))["number"]
    car = pending_fo(curbside)
    steps(at_xuhui, car, "accept")
    arrived = web.post(f"/api/v1/pickups/{car.pk}/arrived", {"parking_spot": "C3"}, format="json")
    assert arrived.status_code == 200, arrived.content
    alert = worker_mail.wait_for(to=xuhui_associate.email, subject="Curbside customer arrived")
    assert curbside in alert["subject"]
    assert "parking spot C3" in alert["body"]

    # Not collected in time: the beat task puts the stock back on the shelf.
    forgotten = api_checkout(web, [(tee.code, 3)], pickup_at(xuhui))["number"]
    shelf = pending_fo(forgotten)
    steps(at_xuhui, shelf, "accept", "pick", "ready")
    worker_mail.wait_for(to=CUSTOMER, subject=f"Your order {forgotten} is ready")
    assert level(xuhui, tee) == (8, 4)
    FulfillmentOrder.objects.filter(pk=shelf.pk).update(
        pickup_deadline=timezone.now() - timedelta(minutes=1)
    )
    expire_pickups.delay()
    wait_until(lambda: FulfillmentOrder.objects.get(pk=shelf.pk).status == "expired")
    assert level(xuhui, tee) == (8, 1)
    assert status_of(forgotten) == "cancelled"
    told = worker_mail.wait_for(to=CUSTOMER, subject=f"Part of your order {forgotten}")
    assert "3 x TEE-WHITE-M" in told["body"]

    wait_until(all_events_processed)
    assert_stock_consistent()

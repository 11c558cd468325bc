"""Redis down at checkout: the order is placed all the same (the outbox keeps its work),
and once Redis is back the sweeper's re-queue releases, captures and notifies it once."""

import json
import uuid

import pytest
from django.contrib.auth import get_user_model

from common.models import OutboxEvent
from fulfillment.models import FulfillmentOrder
from payments.models import DummyGatewayCall
from stores.models import StaffMembership
from tests.conftest import celery_worker_stop, wait_until
from tests.factories import CUSTOMER_NEAR_XUHUI, api_client_for
from tests.faults.harness import (
    REDIS_PORT,
    WEB_PORT,
    RedisServer,
    WebServer,
    manage,
    process_env,
    token_of,
    worker_start,
)
from tests.faults.invariants import assert_invariants_clean
from tests.fulfillment.test_worker import all_events_processed
from tests.fulfillment.worker_mail import KEY_VARIABLE, mail_key
from tests.inventory.factories import stock_put

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

SWEEP = "from datetime import timedelta; from common.outbox import outbox_sweep; "
SWEEP += "print(outbox_sweep(older_than=timedelta(0)))"


def _checkout_body(tee) -> dict:
    lat, lng = CUSTOMER_NEAR_XUHUI
    return {
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "channel": "web",
        "lines": [{"sku": tee.code, "quantity": 2}],
        "delivery": {
            "method": "ship",
            "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai",
                        "latitude": lat, "longitude": lng},
        },
        "payments": [{"method": "card", "gateway": "dummy", "reference": "auth_ada",
                      "amount": str(tee.price * 2 + 15)}],
    }  # fmt: skip


@pytest.fixture
def stack(tmp_path):
    """Redis, gunicorn and a worker of the test's own, all on the Redis at REDIS_PORT."""
    mail_name = uuid.uuid4().hex
    broker = RedisServer(port=REDIS_PORT, log_dir=tmp_path)
    broker.start()
    env = process_env(
        broker=broker.url,
        queue=f"faults-{uuid.uuid4().hex[:8]}",
        extra={
            "EMAIL_BACKEND": "tests.fulfillment.worker_mail.RedisEmailBackend",
            KEY_VARIABLE: mail_name,
        },
    )
    web = WebServer(port=WEB_PORT, env=env, log_dir=tmp_path)
    worker = None
    try:
        web.start()
        worker = worker_start(env=env, log_path=tmp_path / "worker.log")
        yield broker, web, env, mail_key(mail_name)
    finally:
        if worker is not None:
            celery_worker_stop(worker)
        web.stop()
        broker.stop()


def test_order_placed_while_redis_is_down_is_released_captured_and_notified_once(
    stack, web, xuhui, tee
):
    broker, server, env, mail = stack
    stock_put(location=xuhui, sku=tee, on_hand=5)
    keeper = get_user_model().objects.create_user(username="keeper", email="keeper@example.com")
    StaffMembership.objects.create(user=keeper, location=xuhui, role="manager")
    store = token_of(api_client_for(keeper))

    broker.stop()
    response = server.post(
        "/api/v1/checkout", _checkout_body(tee), token=token_of(web),
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    placed = OutboxEvent.objects.get(topic="order.placed", payload__number=number)
    assert placed.processed_at is None  # the outbox holds the work the broker could not take

    broker.start()  # same port, empty: whatever was queued before is gone
    sweep = manage("shell", "-c", SWEEP, env=env)
    assert sweep.returncode == 0, sweep.stderr
    fo = wait_until(
        lambda: FulfillmentOrder.objects.filter(order__number=number, status="pending").first(),
        timeout=60,
    )
    # The store acts once told (a notice finding the order accepted already tells no one).
    wait_until(
        lambda: OutboxEvent.objects.filter(
            topic="fulfillment.released", payload__fulfillment_order=fo.pk,
            processed_at__isnull=False,
        ).exists(),
        timeout=60,
    )  # fmt: skip
    for action in ("accept", "pick", "pack", "ship"):
        data = {"carrier": "SF Express", "tracking_number": "SF777"} if action == "ship" else {}
        answer = server.post(f"/api/v1/fulfillment-orders/{fo.pk}/{action}", data, token=store)
        assert answer.status_code == 200, answer.text
    wait_until(
        lambda: (
            DummyGatewayCall.objects.filter(operation="capture").exists() and all_events_processed()
        ),
        timeout=60,
    )
    assert manage("shell", "-c", SWEEP, env=env).stdout.split()[-1] == "0"  # nothing left

    sent = [json.loads(raw) for raw in broker.client().lrange(mail, 0, -1)]
    assert [m["to"] for m in sent].count(["keeper@example.com"]) == 1  # the store, told once
    assert [m["to"] for m in sent].count(["ada@example.com"]) == 1  # the customer: shipped
    assert FulfillmentOrder.objects.filter(order__number=number).count() == 1
    assert (
        DummyGatewayCall.objects.filter(
            operation="capture", outcome__in=DummyGatewayCall.EFFECTIVE
        ).count()
        == 1
    )
    assert_invariants_clean()

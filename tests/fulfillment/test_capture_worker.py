"""Captures with a real Celery worker behind Redis: a split shipment captured once per
fulfillment order, even when the worker is killed while the gateway answers."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from common.models import OutboxEvent
from common.outbox import outbox_sweep
from common.tasks import outbox_deliver
from payments.models import DummyGatewayRule, Payment, PaymentTransaction
from payments.services import TOPIC_EXECUTE
from tests.conftest import (
    celery_worker_restart,
    celery_worker_stop,
    outbox_row_unlocked,
    wait_until,
)
from tests.factories import CUSTOMER_NEAR_XUHUI
from tests.fulfillment.test_capture import assert_money_clean
from tests.fulfillment.test_worker import all_events_processed, pending_fo, steps
from tests.inventory.factories import SkuFactory, stock_put
from tests.payments.factories import gateway_calls

pytestmark = pytest.mark.worker

Kind = PaymentTransaction.Kind


@pytest.fixture
def mug(db):
    """A second item at the tee's price: the split amounts here are worked out for 99.00 each."""
    return SkuFactory(code="MUG-BLUE", name="Blue mug", price=Decimal("99.00"))


def _checkout(client, tee, mug) -> str:
    lat, lng = CUSTOMER_NEAR_XUHUI
    response = client.post(
        "/api/v1/checkout",
        {
            "customer": {"email": "ada@example.com", "name": "Ada"},
            "channel": "web",
            "lines": [{"sku": tee.code, "quantity": 2}, {"sku": mug.code, "quantity": 1}],
            "delivery": {
                "method": "ship",
                "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai",
                            "latitude": lat, "longitude": lng},
            },
            "discounts": [{"code": "TEN", "amount": "10.00"}],
            "payments": [{"method": "card", "gateway": "dummy", "reference": "auth_ada",
                          "amount": "302.00"}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["number"]


def _capture_of(number: str, fo_id: int) -> PaymentTransaction:
    return wait_until(
        lambda: PaymentTransaction.objects.filter(
            payment__demand=number, kind=Kind.CAPTURE, idempotency_key=str(fo_id)
        ).first()
    )


def _status(tx: PaymentTransaction) -> str:
    return PaymentTransaction.objects.values_list("status", flat=True).get(pk=tx.pk)


def test_split_shipment_captures_once_each_though_the_worker_dies_mid_capture(
    celery_worker_process, celery_worker_env, tmp_path, web, xuhui, pudong, tee, mug,
    at_xuhui, at_pudong,
):  # fmt: skip
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=mug, on_hand=5)
    number = _checkout(web, tee, mug)
    first = pending_fo(number)
    second = pending_fo(number, exclude=(first.pk,))
    from_xuhui, from_pudong = (first, second) if first.location == xuhui else (second, first)
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.SLOW, operation="capture", seconds=30, remaining=1
    )

    steps(at_xuhui, from_xuhui, "accept", "pick", "pack", "ship")
    capture = _capture_of(number, from_xuhui.pk)
    event = OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=capture.pk)
    # The gateway captured (its own records say so) but the worker has not heard back.
    wait_until(lambda: gateway_calls(operation="capture", key=capture.gateway_key) == 1)
    celery_worker_process.kill()  # SIGKILL: no warm shutdown, no ack, no rollback by Python
    celery_worker_process.wait()
    wait_until(lambda: outbox_row_unlocked(event.pk))
    assert _status(capture) == PaymentTransaction.Status.PENDING

    worker = celery_worker_restart(celery_worker_process, env=celery_worker_env, log_dir=tmp_path)
    try:
        outbox_sweep(older_than=timedelta(0))
        wait_until(lambda: _status(capture) == PaymentTransaction.Status.SUCCEEDED)
        steps(at_pudong, from_pudong, "accept", "pick", "pack", "ship")
        other = _capture_of(number, from_pudong.pk)
        wait_until(lambda: _status(other) == PaymentTransaction.Status.SUCCEEDED)
        other_event = OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=other.pk)
        outbox_deliver.delay(other_event.pk)  # the capture task runs twice
        outbox_deliver.delay(event.pk)
        wait_until(all_events_processed)
    finally:
        celery_worker_stop(worker)

    assert (capture.amount, other.amount) == (Decimal("206.33"), Decimal("95.67"))
    payment = Payment.objects.get(demand=number)
    assert (payment.authorized, payment.captured) == (Decimal("302.00"), Decimal("302.00"))
    assert gateway_calls(operation="capture", key=capture.gateway_key, effective=True) == 1
    assert gateway_calls(operation="capture", key=other.gateway_key, effective=True) == 1
    assert_money_clean()

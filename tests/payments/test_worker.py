"""Refunds with a real Celery worker behind Redis, as in production."""

import uuid
from decimal import Decimal

import pytest

from common.models import OutboxEvent
from common.outbox import outbox_requeue
from common.tasks import outbox_deliver
from payments.models import Payment, PaymentTransaction
from payments.services import TOPIC_EXECUTE, payment_capture, payment_record, refund_issue
from tests.conftest import wait_until
from tests.payments.factories import assert_payments_clean, gateway_calls

pytestmark = pytest.mark.worker


def _captured_card(amount: str) -> Payment:
    payment = payment_record(
        demand=f"OM{uuid.uuid4().hex[:8].upper()}",
        method=Payment.Method.CARD,
        gateway="dummy",
        reference=f"auth_{uuid.uuid4().hex[:8]}",
        amount=Decimal(amount),
        currency="CNY",
    )
    capture = payment_capture(payment=payment, amount=Decimal(amount), key="fo-1")
    wait_until(lambda: _status(capture) == PaymentTransaction.Status.SUCCEEDED)
    return Payment.objects.get(pk=payment.pk)


def _status(tx: PaymentTransaction) -> str:
    return PaymentTransaction.objects.values_list("status", flat=True).get(pk=tx.pk)


def _event_of(tx: PaymentTransaction) -> OutboxEvent:
    return OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=tx.pk)


def test_refund_delivered_twice_to_a_real_worker_refunds_once(celery_worker_process):
    payment = _captured_card("100.00")

    [tx] = refund_issue(payments=[payment], amount=Decimal("30.00"), reason="", key="rma-1")
    event = _event_of(tx)
    outbox_deliver.delay(event.pk)  # a duplicate delivery, racing the first
    wait_until(lambda: _status(tx) == PaymentTransaction.Status.SUCCEEDED)
    outbox_deliver.delay(event.pk)  # and one after it was processed
    outbox_requeue(event_ids=[event.pk])
    wait_until(lambda: OutboxEvent.objects.get(pk=event.pk).processed_at)

    assert Payment.objects.get(pk=payment.pk).refunded == Decimal("30.00")
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 1
    assert_payments_clean()

"""Refunds with a real Celery worker behind Redis, as in production."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from common.models import OutboxEvent
from common.outbox import outbox_requeue, outbox_sweep
from common.tasks import outbox_deliver
from payments.models import DummyGatewayRule, Payment, PaymentTransaction
from payments.services import TOPIC_EXECUTE, payment_capture, payment_record, refund_issue
from tests.conftest import (
    celery_worker_restart,
    celery_worker_stop,
    outbox_row_unlocked,
    wait_until,
)
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


def test_worker_killed_while_the_gateway_answers_refunds_once_after_a_sweep(
    celery_worker_process, celery_worker_env, tmp_path
):
    payment = _captured_card("100.00")
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.SLOW, operation="refund", seconds=30, remaining=1
    )

    [tx] = refund_issue(payments=[payment], amount=Decimal("30.00"), reason="", key="rma-1")
    event = _event_of(tx)
    # The gateway has refunded (its own records say so) but the worker has not heard back.
    wait_until(lambda: gateway_calls(operation="refund", key=str(tx.pk)) == 1)
    celery_worker_process.kill()  # SIGKILL: no warm shutdown, no ack, no rollback by Python
    celery_worker_process.wait()
    wait_until(lambda: outbox_row_unlocked(event.pk))
    assert _status(tx) == PaymentTransaction.Status.PENDING

    second = celery_worker_restart(celery_worker_process, env=celery_worker_env, log_dir=tmp_path)
    try:
        outbox_sweep(older_than=timedelta(0))
        wait_until(lambda: _status(tx) == PaymentTransaction.Status.SUCCEEDED)
    finally:
        celery_worker_stop(second)

    assert Payment.objects.get(pk=payment.pk).refunded == Decimal("30.00")
    assert gateway_calls(operation="refund", key=str(tx.pk)) == 2  # the call, then a replay
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 1
    assert_payments_clean()

"""A return's refund is executed once: the task run twice, and a real worker killed while
the gateway answers, still refund exactly once."""

from datetime import timedelta
from decimal import Decimal

import pytest

from common.models import OutboxEvent
from common.outbox import outbox_sweep
from common.tasks import outbox_deliver
from payments.models import DummyGatewayRule, PaymentTransaction
from payments.services import TOPIC_EXECUTE
from returns.references import ReturnReference
from tests.conftest import (
    celery_worker_restart,
    celery_worker_stop,
    outbox_row_unlocked,
    wait_until,
)
from tests.factories import staff_client
from tests.fulfillment.test_worker import all_events_processed, pending_fo, steps
from tests.inventory.factories import stock_put
from tests.payments.factories import gateway_calls
from tests.returns.factories import (
    assert_money_clean,
    card,
    inspect,
    line_of,
    open_return,
    refunded,
    ship_all,
    ship_delivery,
    web_checkout,
)

Kind = PaymentTransaction.Kind


def _refund_of(number: str, rma: str) -> PaymentTransaction:
    return wait_until(
        lambda: PaymentTransaction.objects.filter(
            payment__demand=number, kind=Kind.REFUND,
            idempotency_key=str(ReturnReference(rma=rma)),
        ).first()
    )  # fmt: skip


def _status(tx: PaymentTransaction) -> str:
    return PaymentTransaction.objects.values_list("status", flat=True).get(pk=tx.pk)


@pytest.mark.django_db(transaction=True)
def test_the_refund_task_run_twice_refunds_once(web, kunshan, pudong, tee, at_pudong):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    rma = open_return(at_pudong, order, [(line_of(order, tee), 1)], location=pudong).json()["rma"]
    inspect(at_pudong, rma, [(line_of(order, tee), "resalable", "restock")])
    refund = _refund_of(order.number, rma)
    event = OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=refund.pk)

    outbox_deliver.apply(args=[event.pk])
    outbox_deliver.apply(args=[event.pk])

    assert _status(refund) == "succeeded"
    assert gateway_calls(operation="refund", key=refund.gateway_key, effective=True) == 1
    assert refunded(order) == Decimal("99.00")
    assert_money_clean()


@pytest.mark.worker
def test_a_worker_killed_mid_refund_refunds_once(
    celery_worker_process, celery_worker_env, tmp_path, web, kunshan, pudong, tee
):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    fo = pending_fo(order.number)
    steps(staff_client(kunshan), fo, "accept", "pick", "pack", "ship")
    wait_until(lambda: refunded(order) == 0 and all_events_processed())
    at_pudong = staff_client(pudong)
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.SLOW, operation="refund", seconds=30, remaining=1
    )
    rma = open_return(at_pudong, order, [(line_of(order, tee), 2)], location=pudong).json()["rma"]
    response = inspect(at_pudong, rma, [(line_of(order, tee), "resalable", "restock")])
    assert response.status_code == 200, response.content
    refund = _refund_of(order.number, rma)
    event = OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=refund.pk)
    # The gateway refunded (its own records say so) but the worker has not heard back.
    wait_until(lambda: gateway_calls(operation="refund", key=refund.gateway_key) == 1)
    celery_worker_process.kill()
    celery_worker_process.wait()
    wait_until(lambda: outbox_row_unlocked(event.pk))
    assert _status(refund) == "pending"

    worker = celery_worker_restart(celery_worker_process, env=celery_worker_env, log_dir=tmp_path)
    try:
        outbox_sweep(older_than=timedelta(0))
        wait_until(lambda: _status(refund) == "succeeded")
        outbox_deliver.delay(event.pk)  # and once more, for good measure
        wait_until(all_events_processed)
    finally:
        celery_worker_stop(worker)

    assert refund.amount == Decimal("213.00")
    assert gateway_calls(operation="refund", key=refund.gateway_key, effective=True) == 1
    assert refunded(order) == Decimal("213.00")
    assert_money_clean()

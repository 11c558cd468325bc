"""A return's refund is executed once: the task run twice still refunds exactly once (a
worker killed mid-refund: tests/faults/test_worker_killed.py)."""

from decimal import Decimal

import pytest

from common.models import OutboxEvent
from common.tasks import outbox_deliver
from payments.models import PaymentTransaction
from payments.services import TOPIC_EXECUTE
from returns.references import ReturnReference
from tests.conftest import wait_until
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

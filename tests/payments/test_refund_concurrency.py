"""Real threads, each with its own PostgreSQL connection, refunding the same payment."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from payments.errors import RefundExceedsCaptured
from payments.models import DummyGatewayCall, Payment, PaymentTransaction
from payments.services import refund_issue
from tests.payments.factories import assert_payments_clean, captured_card

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 20
TIMEOUT = 60


def test_20_concurrent_refunds_never_exceed_what_was_captured():
    payment = captured_card(amount="100.00")
    barrier = threading.Barrier(CLIENTS, timeout=TIMEOUT)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            try:
                # 20 x 15.00 asked of 100.00: six fit, and the gateway is called after commit.
                refund_issue(
                    payments=[payment], amount=Decimal("15.00"), reason="race", key=f"rma-{n}"
                )
            except RefundExceedsCaptured:
                outcomes.append("refused")
            else:
                outcomes.append("issued")
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)

    assert not errors
    assert Counter(outcomes) == {"issued": 6, "refused": 14}
    payment = Payment.objects.get(pk=payment.pk)
    assert payment.refunded == Decimal("90.00") <= payment.captured
    refunds = PaymentTransaction.objects.filter(payment=payment, kind="refund")
    assert Counter(refunds.values_list("status", flat=True)) == {"succeeded": 6}
    effective = DummyGatewayCall.objects.filter(
        operation="refund",
        key__in=[str(pk) for pk in refunds.values_list("pk", flat=True)],
        outcome__in=DummyGatewayCall.EFFECTIVE,
    )
    assert effective.count() == 6
    assert_payments_clean()

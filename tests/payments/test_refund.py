"""Refunds: written before the gateway is called, sent after commit under the row's id."""

from decimal import Decimal

import pytest

from payments.errors import IdempotencyKeyReused, PaymentInvalid, RefundExceedsCaptured
from payments.models import DummyGatewayRule, Payment, PaymentTransaction
from payments.selectors import payments_summary
from payments.services import REFUND_ORDER, refund_issue, refund_retry
from tests.payments.factories import (
    assert_payments_clean,
    captured_card,
    deliver,
    demand,
    gateway_calls,
    till,
    waiting_events,
)

# The dummy gateway reads its rules on a connection of its own: they must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

Status = PaymentTransaction.Status


def _refund(payment: Payment, amount: str, key: str = "rma-1") -> PaymentTransaction:
    [tx] = refund_issue(payments=[payment], amount=Decimal(amount), reason="too small", key=key)
    return tx


def _fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def test_refund_is_sent_after_commit_and_moves_the_money_once():
    payment = captured_card(amount="100.00")

    tx = _refund(payment, "40.00")
    again = refund_issue(payments=[payment], amount=Decimal("40.00"), reason="", key="rma-1")
    deliver()

    assert [t.pk for t in again] == [tx.pk]
    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).refunded == Decimal("40.00")
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 1
    with pytest.raises(IdempotencyKeyReused):
        refund_issue(payments=[payment], amount=Decimal("41.00"), reason="", key="rma-1")
    assert_payments_clean()


def test_refunds_pending_at_the_gateway_count_against_what_was_captured():
    payment = captured_card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=DummyGatewayRule.Behaviour.FAIL)

    pending = _refund(payment, "70.00", key="rma-1")  # the gateway is down: stays pending

    assert _fresh(pending).status == Status.PENDING
    with pytest.raises(RefundExceedsCaptured) as caught:
        _refund(payment, "30.01", key="rma-2")
    assert caught.value.extra == {"requested": "30.01", "refundable": "30.00"}
    assert not PaymentTransaction.objects.filter(idempotency_key="rma-2").exists()
    assert payments_summary(demand=payment.demand)["CNY"].pending_refunds == Decimal("70.00")
    assert_payments_clean()


def test_refund_split_over_two_tenders_takes_the_gift_card_before_the_card():
    ref = demand()
    card_payment = captured_card(amount="70.00", demand_ref=ref)
    gift = captured_card(amount="30.00", demand_ref=ref, method=Payment.Method.GIFT_CARD)
    cash = till(amount="10.00", demand_ref=ref)
    assert REFUND_ORDER.index(Payment.Method.GIFT_CARD) < REFUND_ORDER.index(Payment.Method.CARD)

    refunds = refund_issue(
        payments=[cash, card_payment, gift], amount=Decimal("50.00"), reason="", key="rma-9"
    )
    deliver()

    assert [(tx.payment_id, tx.amount) for tx in refunds] == [
        (gift.pk, Decimal("30.00")),
        (card_payment.pk, Decimal("20.00")),
    ]
    assert _fresh(gift).refunded == Decimal("30.00")
    assert _fresh(gift).status == Payment.Status.REFUNDED
    assert _fresh(card_payment).refunded == Decimal("20.00")
    assert _fresh(cash).refunded == Decimal("0.00")
    rest = refund_issue(
        payments=[cash, card_payment, gift], amount=Decimal("60.00"), reason="", key="rma-10"
    )
    assert [(tx.payment_id, tx.amount) for tx in rest] == [
        (card_payment.pk, Decimal("50.00")),
        (cash.pk, Decimal("10.00")),
    ]
    assert _fresh(cash).refunded == Decimal("10.00")  # paid out at the till, no gateway
    with pytest.raises(RefundExceedsCaptured):
        refund_issue(payments=[cash, card_payment], amount=Decimal("0.01"), reason="", key="x")
    assert_payments_clean()


def test_refund_of_tenders_of_two_currencies_is_refused():
    payment = captured_card(amount="10.00")
    other = till(amount="10.00", demand_ref=payment.demand)
    Payment.objects.filter(pk=other.pk).update(currency="USD")

    with pytest.raises(PaymentInvalid):
        refund_issue(payments=[payment, other], amount=Decimal("1.00"), reason="", key="k")


def test_gateway_that_succeeds_but_times_out_then_a_retry_refunds_exactly_once():
    payment = captured_card(amount="100.00")
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.TIMEOUT, operation="refund", remaining=1
    )

    tx = _refund(payment, "25.00")  # delivered after commit: the gateway refunds, then times out

    assert _fresh(tx).status == Status.PENDING
    assert _fresh(payment).refunded == Decimal("0.00")
    assert len(waiting_events()) == 1
    deliver()  # the retry: the same key, so the gateway answers with its first refund

    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(tx).gateway_reference == f"dummy_refund_{tx.pk}"
    assert _fresh(payment).refunded == Decimal("25.00")
    assert gateway_calls(operation="refund", key=str(tx.pk)) == 2
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 1
    assert_payments_clean()


def test_refund_that_timed_out_on_every_try_ends_failed_and_its_retry_refunds_once(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1
    payment = captured_card(amount="100.00")
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.TIMEOUT, operation="refund", remaining=1
    )

    tx = _refund(payment, "25.00")

    assert _fresh(tx).status == Status.FAILED
    assert _fresh(tx).error_code == PaymentTransaction.ErrorCode.UNAVAILABLE
    assert waiting_events() == []
    refund_retry(transaction=_fresh(tx))

    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).refunded == Decimal("25.00")
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 1
    assert_payments_clean()


def test_unreachable_gateway_is_retried_then_the_refund_ends_failed(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 3
    payment = captured_card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=DummyGatewayRule.Behaviour.FAIL)

    tx = _refund(payment, "25.00")  # attempt 1, after commit
    assert _fresh(tx).status == Status.PENDING
    deliver()  # attempt 2
    assert _fresh(tx).status == Status.PENDING
    deliver()  # attempt 3: the last

    assert _fresh(tx).status == Status.FAILED
    assert "unavailable" in _fresh(tx).error
    assert waiting_events() == []
    assert gateway_calls(operation="refund", key=str(tx.pk)) == 3
    assert gateway_calls(operation="refund", key=str(tx.pk), effective=True) == 0
    assert _fresh(payment).refunded == Decimal("0.00")
    assert_payments_clean()


def test_declined_refund_stays_failed_and_visible_and_its_retry_works_once_lifted(
    admin_client,
):
    payment = captured_card(amount="100.00")
    rule = DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.DECLINE, reference=payment.reference
    )

    tx = _refund(payment, "25.00")

    assert _fresh(tx).status == Status.FAILED  # at once: a decline is not retried
    assert _fresh(tx).error_code == PaymentTransaction.ErrorCode.DECLINED
    assert waiting_events() == []
    page = admin_client.get("/admin/payments/paymenttransaction/?attention=failed_refunds")
    assert page.status_code == 200
    assert f"/admin/payments/paymenttransaction/{tx.pk}/change/" in page.content.decode()

    refund_retry(transaction=_fresh(tx))  # still declined
    assert _fresh(tx).status == Status.FAILED
    rule.delete()
    answer = admin_client.post(
        "/admin/payments/paymenttransaction/",
        {"action": "retry", "_selected_action": [tx.pk]},
        follow=True,
    )

    assert answer.status_code == 200
    assert "1 refund(s) sent to the gateway again." in answer.content.decode()
    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).refunded == Decimal("25.00")
    effective = [
        gateway_calls(operation="refund", key=key, effective=True)
        for key in (str(tx.pk), f"{tx.pk}.1", f"{tx.pk}.2")
    ]
    assert effective == [0, 0, 1]
    assert_payments_clean()


def test_only_a_failed_refund_can_be_retried():
    payment = captured_card(amount="100.00")
    tx = _refund(payment, "25.00")

    assert _fresh(tx).status == Status.SUCCEEDED
    with pytest.raises(Exception, match="Only a failed refund"):
        refund_retry(transaction=_fresh(tx))

"""A transaction whose outcome the gateway never told us keeps its money held until it is
tried again to a known answer: only a decline (a known "no") frees it."""

from decimal import Decimal

import pytest

from payments.errors import CaptureExceedsAuthorized, RefundExceedsCaptured
from payments.models import DummyGatewayCall, DummyGatewayRule, Payment, PaymentTransaction
from payments.selectors import payment_breaches
from payments.services import (
    capture_retry,
    payment_capture,
    payment_void,
    refund_issue,
    refund_retry,
    void_retry,
)
from tests.payments.factories import (
    assert_payments_clean,
    captured_card,
    card,
    deliver,
    gateway_calls,
)

# The dummy gateway reads its rules on a connection of its own: they must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

Status = PaymentTransaction.Status
Kind = PaymentTransaction.Kind
Rule = DummyGatewayRule.Behaviour


def _fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def _effective_refunds() -> int:
    return DummyGatewayCall.objects.filter(
        operation=Kind.REFUND, outcome__in=DummyGatewayCall.EFFECTIVE
    ).count()


def test_refund_that_timed_out_until_failed_holds_its_amount_and_is_never_made_twice(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1  # the timeout is the last try
    payment = captured_card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=Rule.TIMEOUT, operation=Kind.REFUND, remaining=1)

    # After commit the gateway refunds, then times out: the refund ends failed, unknown.
    [first] = refund_issue(payments=[payment], amount=Decimal("100.00"), reason="", key="rma-a")

    assert _fresh(first).status == Status.FAILED
    assert _fresh(first).error_code == PaymentTransaction.ErrorCode.UNAVAILABLE
    assert _effective_refunds() == 1
    with pytest.raises(RefundExceedsCaptured) as caught:
        refund_issue(payments=[payment], amount=Decimal("100.00"), reason="", key="rma-b")
    assert caught.value.status == 409
    assert not PaymentTransaction.objects.filter(idempotency_key="rma-b").exists()

    refund_retry(transaction=_fresh(first))  # the same key: the gateway tells what it did

    assert _fresh(first).status == Status.SUCCEEDED
    assert _fresh(payment).refunded == Decimal("100.00")
    assert _effective_refunds() == 1
    assert gateway_calls(operation=Kind.REFUND, key=str(first.pk), effective=True) == 1
    assert_payments_clean()


def test_a_declined_refund_frees_its_amount_for_another_refund():
    payment = captured_card(amount="100.00")
    rule = DummyGatewayRule.objects.create(behaviour=Rule.DECLINE, operation=Kind.REFUND)

    [declined] = refund_issue(payments=[payment], amount=Decimal("100.00"), reason="", key="a")
    rule.delete()
    [other] = refund_issue(payments=[payment], amount=Decimal("100.00"), reason="", key="b")

    assert _fresh(declined).error_code == PaymentTransaction.ErrorCode.DECLINED
    assert _fresh(other).status == Status.SUCCEEDED
    with pytest.raises(RefundExceedsCaptured):  # now it would not fit
        refund_retry(transaction=_fresh(declined))
    assert _effective_refunds() == 1
    assert_payments_clean()


def test_capture_of_unknown_outcome_holds_the_authorization(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1
    payment = card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=Rule.TIMEOUT, operation=Kind.CAPTURE, remaining=1)

    first = payment_capture(payment=payment, amount=Decimal("60.00"), key="fo-1")
    deliver()

    assert _fresh(first).status == Status.FAILED
    with pytest.raises(CaptureExceedsAuthorized):
        payment_capture(payment=payment, amount=Decimal("40.01"), key="fo-2")
    assert_payments_clean()


def test_failed_capture_is_retried_once_to_success_under_the_same_key(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1
    payment = card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=Rule.TIMEOUT, operation=Kind.CAPTURE, remaining=1)
    tx = payment_capture(payment=payment, amount=Decimal("60.00"), key="fo-1")
    deliver()
    assert _fresh(tx).status == Status.FAILED

    capture_retry(transaction=_fresh(tx))
    deliver()

    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).captured == Decimal("60.00")
    assert _fresh(payment).status == Payment.Status.CAPTURED
    assert gateway_calls(operation=Kind.CAPTURE, key=str(tx.pk), effective=True) == 1
    assert_payments_clean()


def test_declined_capture_is_retried_under_a_new_key(settings):
    payment = card(amount="100.00")
    rule = DummyGatewayRule.objects.create(behaviour=Rule.DECLINE, operation=Kind.CAPTURE)
    tx = payment_capture(payment=payment, amount=Decimal("60.00"), key="fo-1")
    deliver()
    assert _fresh(tx).error_code == PaymentTransaction.ErrorCode.DECLINED
    rule.delete()

    capture_retry(transaction=_fresh(tx))
    deliver()

    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).captured == Decimal("60.00")
    assert gateway_calls(operation=Kind.CAPTURE, key=f"{tx.pk}.1", effective=True) == 1
    with pytest.raises(Exception, match="Only a failed capture"):
        capture_retry(transaction=_fresh(tx))
    assert_payments_clean()


def test_admin_lists_failed_captures_and_retries_them(admin_client, settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1
    payment = card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=Rule.FAIL, operation=Kind.CAPTURE, remaining=1)
    tx = payment_capture(payment=payment, amount=Decimal("60.00"), key="fo-1")
    deliver()
    assert _fresh(tx).status == Status.FAILED

    page = admin_client.get("/admin/payments/paymenttransaction/?attention=failed_captures")
    assert page.status_code == 200
    assert f"/admin/payments/paymenttransaction/{tx.pk}/change/" in page.content.decode()
    answer = admin_client.post(
        "/admin/payments/paymenttransaction/",
        {"action": "retry", "_selected_action": [tx.pk]},
        follow=True,
    )

    assert "1 capture(s) sent to the gateway again." in answer.content.decode()
    deliver()
    assert _fresh(tx).status == Status.SUCCEEDED
    assert _fresh(payment).captured == Decimal("60.00")


def test_void_of_unknown_outcome_holds_the_authorization_until_retried(settings):
    settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS = 1
    payment = card(amount="100.00")
    DummyGatewayRule.objects.create(behaviour=Rule.TIMEOUT, operation=Kind.VOID, remaining=1)
    void = payment_void(payment=payment, key="cancel-1")
    assert _fresh(void).status == Status.FAILED

    with pytest.raises(CaptureExceedsAuthorized):  # it may be voided at the gateway
        payment_capture(payment=payment, amount=Decimal("0.01"), key="fo-1")
    void_retry(transaction=_fresh(void))

    assert _fresh(void).status == Status.SUCCEEDED
    assert _fresh(payment).authorized == Decimal("0.00")
    assert _fresh(payment).status == Payment.Status.VOIDED
    assert gateway_calls(operation=Kind.VOID, key=str(void.pk), effective=True) == 1
    assert_payments_clean()


def test_verify_payments_flags_gateway_refunds_beyond_the_ledger():
    payment = captured_card(amount="100.00")
    [tx] = refund_issue(payments=[payment], amount=Decimal("30.00"), reason="", key="rma-1")
    assert payment_breaches() == []

    DummyGatewayCall.objects.create(  # a refund the ledger knows nothing of
        operation=Kind.REFUND,
        key=f"{tx.pk}.7",
        amount=Decimal("30.00"),
        currency="CNY",
        reference=payment.reference,
        result="x",
        outcome=DummyGatewayCall.Outcome.SUCCEEDED,
    )

    [breach] = payment_breaches()
    assert f"payment {payment.pk}" in breach
    assert "gateway refunded 60.00" in breach

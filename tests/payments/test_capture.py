from decimal import Decimal

import pytest

from payments.errors import CaptureExceedsAuthorized, IdempotencyKeyReused
from payments.models import Payment, PaymentTransaction
from payments.selectors import payments_summary
from payments.services import payment_capture, payment_void, payments_capture
from tests.payments.factories import (
    assert_payments_clean,
    card,
    deliver,
    demand,
    gateway_calls,
    till,
)

pytestmark = pytest.mark.django_db


def test_the_same_capture_key_twice_captures_once_with_one_gateway_call():
    payment = card(amount="100.00")

    first = payment_capture(payment=payment, amount=Decimal("30.00"), key="fo-17")
    again = payment_capture(payment=payment, amount=Decimal("30.00"), key="fo-17")
    deliver()
    deliver()  # a second delivery of the same work
    payment_capture(payment=payment, amount=Decimal("30.00"), key="fo-17")
    deliver()

    assert again.pk == first.pk
    payment.refresh_from_db()
    assert payment.captured == Decimal("30.00")
    assert payment.status == Payment.Status.CAPTURED
    assert payment.transactions.filter(kind="capture").count() == 1
    assert gateway_calls(operation="capture", key=str(first.pk)) == 1
    first.refresh_from_db()
    assert first.status == PaymentTransaction.Status.SUCCEEDED
    assert first.gateway_reference == f"dummy_capture_{first.pk}"
    assert_payments_clean()


def test_the_same_key_for_another_amount_is_refused():
    payment = card(amount="100.00")
    payment_capture(payment=payment, amount=Decimal("30.00"), key="fo-17")

    with pytest.raises(IdempotencyKeyReused):
        payment_capture(payment=payment, amount=Decimal("31.00"), key="fo-17")


def test_captures_never_add_up_to_more_than_authorized_even_before_the_gateway_answers():
    payment = card(amount="100.00")
    payment_capture(payment=payment, amount=Decimal("60.00"), key="fo-1")

    with pytest.raises(CaptureExceedsAuthorized):
        payment_capture(payment=payment, amount=Decimal("40.01"), key="fo-2")
    payment_capture(payment=payment, amount=Decimal("40.00"), key="fo-2")
    deliver()

    payment.refresh_from_db()
    assert payment.captured == payment.authorized == Decimal("100.00")
    with pytest.raises(CaptureExceedsAuthorized):
        payment_capture(payment=payment, amount=Decimal("0.01"), key="fo-3")
    assert_payments_clean()


def test_a_cancel_voids_what_is_not_captured():
    payment = card(amount="100.00")
    payment_capture(payment=payment, amount=Decimal("70.00"), key="fo-1")
    void = payment_void(payment=payment, key="cancel", reason="line cancelled")
    deliver()

    assert void.amount == Decimal("30.00")
    assert gateway_calls(operation="void", key=str(void.pk), effective=True) == 1
    payment.refresh_from_db()
    assert (payment.authorized, payment.captured) == (Decimal("70.00"), Decimal("70.00"))
    assert payment.status == Payment.Status.CAPTURED
    assert payment_void(payment=payment, key="cancel-again") is None
    money = payments_summary(demand=payment.demand)["CNY"]
    assert money.authorized == money.captured == Decimal("70.00")
    assert_payments_clean()


def test_a_void_of_a_payment_nothing_was_captured_of_ends_it_voided():
    payment = card(amount="100.00")
    payment_void(payment=payment, key="cancel")
    deliver()

    payment.refresh_from_db()
    assert payment.authorized == Decimal("0.00")
    assert payment.status == Payment.Status.VOIDED
    assert_payments_clean()


def test_capture_over_a_demands_tenders_takes_the_gift_card_then_the_card_once_per_key():
    ref = demand()
    card_payment = card(amount="70.00", demand_ref=ref)
    gift = card(amount="30.00", demand_ref=ref, method=Payment.Method.GIFT_CARD)
    cash = till(amount="10.00", demand_ref=ref)
    tenders = [cash, card_payment, gift]

    first = payments_capture(payments=tenders, amount=Decimal("50.00"), key="fo-1")
    again = payments_capture(payments=tenders, amount=Decimal("50.00"), key="fo-1")
    deliver()

    assert [(tx.payment_id, tx.amount) for tx in first] == [
        (gift.pk, Decimal("30.00")),
        (card_payment.pk, Decimal("20.00")),
    ]
    assert [tx.pk for tx in again] == [tx.pk for tx in first]
    with pytest.raises(CaptureExceedsAuthorized) as caught:
        payments_capture(payments=tenders, amount=Decimal("50.01"), key="fo-2")
    assert caught.value.extra == {"requested": "50.01", "authorized_left": "50.00"}
    money = payments_summary(demand=ref)["CNY"]
    assert money.captured == Decimal("60.00")  # the cash was captured when it was taken
    assert gateway_calls(operation="capture", key=str(first[1].pk), effective=True) == 1
    assert_payments_clean()

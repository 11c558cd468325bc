from decimal import Decimal

import pytest

from payments.errors import PaymentInvalid
from payments.models import Payment, PaymentTransaction
from payments.selectors import payments_summary
from payments.services import payment_record, payment_void
from tests.payments.factories import assert_payments_clean, card, demand, till

pytestmark = pytest.mark.django_db


def test_card_authorised_by_the_storefront_is_recorded_authorized_with_its_reference():
    payment = card(amount="84.00")

    assert payment.status == Payment.Status.AUTHORIZED
    assert (payment.authorized, payment.captured) == (Decimal("84.00"), Decimal("0.00"))
    [auth] = payment.transactions.all()
    assert auth.kind == PaymentTransaction.Kind.AUTHORIZE
    assert auth.status == PaymentTransaction.Status.SUCCEEDED
    assert auth.gateway_reference == payment.reference
    assert_payments_clean()


@pytest.mark.parametrize("method", [Payment.Method.CASH, Payment.Method.CARD_PRESENT])
def test_tender_at_the_till_is_captured_at_once(method):
    payment = till(amount="19.90", method=method)

    assert payment.status == Payment.Status.CAPTURED
    assert payment.captured == payment.authorized == Decimal("19.90")
    assert [tx.kind for tx in payment.transactions.all()] == ["authorize", "capture"]
    assert_payments_clean()


def test_demand_without_a_tender_gets_a_pending_payment_that_a_cancel_voids():
    ref = demand()
    payment = payment_record(demand=ref, amount=Decimal("99.00"), currency="CNY")

    assert payment.status == Payment.Status.PENDING
    assert payment.authorized == Decimal("0.00")
    assert payment_void(payment=payment, key="cancel") is None
    payment.refresh_from_db()
    assert payment.status == Payment.Status.VOIDED


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": Decimal("1.001")}, "amount"),
        ({"amount": Decimal("-1.00")}, "amount"),
        ({"currency": "cny"}, "currency"),
        ({"method": "bitcoin"}, "method"),
        ({"method": "card", "gateway": "nope", "reference": "a"}, "gateway"),
        ({"method": "card", "gateway": "dummy"}, "reference"),
        ({"method": "cash", "gateway": "dummy", "reference": "a"}, "gateway"),
    ],
)
def test_bad_tender_is_refused_with_its_field(kwargs, field):
    args = {"demand": demand(), "amount": Decimal("10.00"), "currency": "CNY", **kwargs}
    with pytest.raises(PaymentInvalid) as caught:
        payment_record(**args)
    assert caught.value.extra["field"] == field
    assert caught.value.status == 400


def test_summary_adds_up_a_demands_tenders_per_currency():
    ref = demand()
    card(amount="60.00", demand_ref=ref)
    till(amount="40.00", demand_ref=ref)

    [money] = payments_summary(demand=ref).values()

    assert money.currency == "CNY"
    assert (money.amount, money.authorized, money.captured) == (
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("40.00"),
    )
    assert money.refunded == money.pending_refunds == Decimal("0.00")

"""The database keeps the amounts within their bounds, whatever the code does."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from payments.models import Payment, PaymentTransaction
from tests.payments.factories import card, till

pytestmark = pytest.mark.django_db


def _force(payment: Payment, **amounts) -> None:
    with transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(**amounts)


def test_captured_above_authorized_is_refused_by_the_database():
    payment = card(amount="50.00")
    with pytest.raises(IntegrityError):
        _force(payment, captured=Decimal("50.01"))


def test_refunded_above_captured_is_refused_by_the_database():
    payment = till(amount="50.00")
    with pytest.raises(IntegrityError):
        _force(payment, refunded=Decimal("50.01"))


@pytest.mark.parametrize("field", ["amount", "authorized", "captured", "refunded"])
def test_negative_amounts_are_refused_by_the_database(field):
    payment = card(amount="50.00")
    with pytest.raises(IntegrityError):
        _force(payment, **{field: Decimal("-0.01")})


def test_negative_transaction_amount_is_refused_by_the_database():
    payment = card(amount="50.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentTransaction.objects.create(payment=payment, kind="refund", amount=Decimal("-1"))


def test_a_key_is_used_once_per_payment_and_kind():
    payment = card(amount="50.00")
    PaymentTransaction.objects.create(
        payment=payment, kind="capture", amount=Decimal("1"), idempotency_key="fo-1"
    )
    PaymentTransaction.objects.create(
        payment=payment, kind="refund", amount=Decimal("1"), idempotency_key="fo-1"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentTransaction.objects.create(
            payment=payment, kind="capture", amount=Decimal("2"), idempotency_key="fo-1"
        )


def test_status_changes_only_through_transitions():
    payment = card(amount="50.00")
    with pytest.raises(AttributeError):
        payment.status = Payment.Status.REFUNDED

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from payments.models import Payment, PaymentTransaction
from payments.selectors import payment_breaches
from tests.payments.factories import assert_payments_clean, captured_card

pytestmark = pytest.mark.django_db


def test_a_clean_ledger_passes():
    captured_card(amount="10.00")
    assert_payments_clean()


def test_amount_that_differs_from_its_ledger_is_a_breach_and_exits_1():
    payment = captured_card(amount="10.00")
    Payment.objects.filter(pk=payment.pk).update(refunded=Decimal("1.00"))  # no refund row

    err = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_payments", stdout=StringIO(), stderr=err)

    assert exited.value.code == 1
    assert f"payment {payment.pk}" in err.getvalue()


def test_pending_refunds_above_what_is_left_captured_are_a_breach():
    payment = captured_card(amount="10.00")
    PaymentTransaction.objects.create(payment=payment, kind="refund", amount=Decimal("10.01"))

    assert len(payment_breaches()) == 1


def test_succeeded_capture_without_its_amount_on_the_payment_is_a_breach():
    payment = captured_card(amount="10.00")
    tx = PaymentTransaction.objects.create(payment=payment, kind="capture", amount=Decimal("1"))
    tx.succeed()
    tx.save()

    assert len(payment_breaches()) == 1

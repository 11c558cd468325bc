from decimal import Decimal

import pytest

from payments.models import DummyGatewayRule, PaymentTransaction
from payments.services import refund_issue
from tests.payments.factories import captured_card

pytestmark = pytest.mark.django_db(transaction=True)


def test_payment_page_shows_its_ledger_read_only_and_retries_its_failed_refunds(admin_client):
    payment = captured_card(amount="100.00")
    rule = DummyGatewayRule.objects.create(behaviour=DummyGatewayRule.Behaviour.DECLINE)
    [tx] = refund_issue(payments=[payment], amount=Decimal("5.00"), reason="late", key="r-1")
    rule.delete()

    page = admin_client.get(f"/admin/payments/payment/{payment.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "dummy gateway declined" in html
    assert 'name="transactions-0-amount"' not in html  # read-only: no form fields
    answer = admin_client.post(
        "/admin/payments/payment/",
        {"action": "retry_failed_refunds", "_selected_action": [payment.pk]},
        follow=True,
    )
    assert "1 refund(s) sent to the gateway again." in answer.content.decode()
    assert PaymentTransaction.objects.get(pk=tx.pk).status == "succeeded"


def test_money_cannot_be_edited_in_the_admin(admin_client):
    payment = captured_card(amount="100.00")

    assert admin_client.get("/admin/payments/payment/add/").status_code == 403
    answer = admin_client.post(
        f"/admin/payments/payment/{payment.pk}/change/", {"captured": "1.00"}
    )
    assert answer.status_code == 403

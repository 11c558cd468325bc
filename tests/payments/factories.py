"""Payments as the storefront and the till make them, and the worker's side of the outbox."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from common.models import OutboxEvent
from common.tasks import outbox_deliver
from payments.models import DummyGatewayCall, Payment
from payments.services import TOPIC_EXECUTE, payment_capture, payment_record


def demand() -> str:
    return f"OM{uuid.uuid4().hex[:8].upper()}"


def card(*, amount: str = "100.00", demand_ref: str = "", method: str = Payment.Method.CARD):
    return payment_record(
        demand=demand_ref or demand(),
        method=method,
        gateway="dummy",
        reference=f"auth_{uuid.uuid4().hex[:10]}",
        amount=Decimal(amount),
        currency="CNY",
    )


def till(*, amount: str = "100.00", demand_ref: str = "", method: str = Payment.Method.CASH):
    return payment_record(
        demand=demand_ref or demand(), method=method, amount=Decimal(amount), currency="CNY"
    )


def captured_card(*, amount: str = "100.00", demand_ref: str = "", **kwargs) -> Payment:
    payment = card(amount=amount, demand_ref=demand_ref, **kwargs)
    payment_capture(payment=payment, amount=Decimal(amount), key=f"fo-{uuid.uuid4().hex[:6]}")
    deliver()
    return Payment.objects.get(pk=payment.pk)


def waiting_events() -> list[int]:
    return list(
        OutboxEvent.objects.filter(topic=TOPIC_EXECUTE, processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def deliver() -> int:
    """What a worker does with the payments events waiting in the outbox (one attempt each)."""
    events = waiting_events()
    for event_id in events:
        outbox_deliver.apply(args=[event_id])
    return len(events)


def gateway_calls(*, operation: str, key: str, effective: bool = False) -> int:
    calls = DummyGatewayCall.objects.filter(operation=operation, key=key)
    if effective:
        calls = calls.filter(outcome__in=DummyGatewayCall.EFFECTIVE)
    return calls.count()


def assert_payments_clean() -> None:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_payments", stdout=out, stderr=err)
    except SystemExit:
        pytest.fail(f"verify_payments found breaches:\n{err.getvalue()}")
    assert "Payment ledger holds." in out.getvalue()

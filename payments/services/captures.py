"""Captures and voids: taking what fulfilment sent, giving up what is no longer needed."""

from decimal import Decimal

from django.db import transaction as db

from common.db import retry_on_conflict
from payments.errors import (
    CaptureExceedsAuthorized,
    CaptureNotRetryable,
    PaymentInvalid,
    VoidNotRetryable,
)
from payments.models import ZERO, Payment, PaymentTransaction
from payments.selectors import held_amounts
from payments.services._base import (
    CAPTURE_ORDER,
    Kind,
    _demand_locked,
    _in_order,
    _locked,
    _money,
    _open,
    _retry,
    _same_key,
    _send_after_commit,
    _spread,
    _write_spread,
)


@retry_on_conflict
@db.atomic
def payment_capture(*, payment: Payment, amount: Decimal, key: str) -> PaymentTransaction:
    """Capture `amount` of what is authorized, once per `key` (e.g. a fulfillment order's
    id); the gateway is called after commit. 409 above what is left authorized."""
    amount = _money(amount)
    payment = _locked(payment)
    existing = _same_key(payment, Kind.CAPTURE, key, amount)
    if existing is not None:
        return existing
    left = _open(payment, held_amounts(payment_ids=[payment.pk])[payment.pk])
    if amount > left:
        raise CaptureExceedsAuthorized(
            payment=payment.pk, requested=str(amount), authorized_left=str(left)
        )
    tx = PaymentTransaction.objects.create(
        payment=payment, kind=Kind.CAPTURE, amount=amount, idempotency_key=key
    )
    _send_after_commit(tx)
    return tx


@db.atomic
def payment_void(*, payment: Payment, key: str, reason: str = "") -> PaymentTransaction | None:
    """Give up what is authorized and not captured (nor being captured), once per `key`;
    the gateway is called after commit. A payment nothing was tendered for is voided at
    once. None when nothing is left to void."""
    payment = _locked(payment)
    existing = PaymentTransaction.objects.filter(
        payment=payment, kind=Kind.VOID, idempotency_key=key
    ).first()
    if existing is not None:
        return existing
    if payment.status == Payment.Status.PENDING:
        payment.void()
        payment.save(update_fields=["status", "updated_at"])
        return None
    left = _open(payment, held_amounts(payment_ids=[payment.pk])[payment.pk])
    if left <= ZERO:
        return None
    tx = PaymentTransaction.objects.create(
        payment=payment, kind=Kind.VOID, amount=left, idempotency_key=key, reason=reason
    )
    _send_after_commit(tx)
    return tx


@retry_on_conflict
@db.atomic
def payments_capture(
    *, payments: list[Payment], amount: Decimal, key: str
) -> list[PaymentTransaction]:
    """Capture `amount` over a demand's tenders in `CAPTURE_ORDER`, once per `key` (e.g. a
    fulfillment order's id): one `pending` capture row per tender used, within what each
    has left authorized; the gateway is called after commit. 409 when less is left
    (a till tender, captured at once, has nothing left)."""
    rows, left = _spread(
        kind=Kind.CAPTURE,
        payments=payments,
        amount=amount,
        key=key,
        reason="",
        order=CAPTURE_ORDER,
        room=_open,
    )
    if left > ZERO:
        raise CaptureExceedsAuthorized(requested=str(amount), authorized_left=str(amount - left))
    return rows


@retry_on_conflict  # only calls through inside the caller's transaction
@db.atomic(savepoint=False)  # in the caller's transaction: no savepoint
def demand_capture(*, demand: str, amount: Decimal, key: str) -> list[PaymentTransaction]:
    """Capture up to `amount` of what a demand's tenders have left authorized (points first,
    then gift cards, then cards), once per `key` (a fulfillment order's id): what the till took is
    already captured and a demand nothing was tendered for has nothing to capture, so
    less (or nothing) is captured then. The gateway is called after commit."""
    amount = _money(amount, positive=False)
    if not key:
        raise PaymentInvalid("An idempotency key is needed.", field="key")
    locked, held = _demand_locked(demand)
    existing = list(
        PaymentTransaction.objects.filter(
            payment__demand=demand, kind=Kind.CAPTURE, idempotency_key=key
        ).order_by("pk")
    )
    if existing or amount == ZERO:
        return existing
    return _write_spread(
        kind=Kind.CAPTURE,
        tenders=_in_order(locked, CAPTURE_ORDER),
        amount=amount,
        key=key,
        reason="",
        room=lambda p: _open(p, held[p.pk]),
    )


@retry_on_conflict
@db.atomic
def capture_retry(*, transaction: PaymentTransaction, actor=None) -> PaymentTransaction:
    """Try a failed capture again (pending, then the gateway after commit; also the admin's
    "retry" action). After a decline it goes under a new gateway key; after an unknown
    outcome under the same one, so a capture the gateway did make is not made twice. 409
    unless failed, or when what is left authorized no longer covers it."""

    return _retry(
        transaction=transaction,
        kind=Kind.CAPTURE,
        room=_open,
        not_retryable=CaptureNotRetryable,
        too_much=_beyond_authorized,
        actor=actor,
    )


@db.atomic
def void_retry(*, transaction: PaymentTransaction, actor=None) -> PaymentTransaction:
    """Try a failed void again, as `capture_retry` does a capture (also the admin's "retry"
    action). 409 unless failed, or when what is left authorized no longer covers it."""
    return _retry(
        transaction=transaction,
        kind=Kind.VOID,
        room=_open,
        not_retryable=VoidNotRetryable,
        too_much=_beyond_authorized,
        actor=actor,
    )


def _beyond_authorized(amount: Decimal, left: Decimal) -> Exception:
    return CaptureExceedsAuthorized(requested=str(amount), authorized_left=str(left))

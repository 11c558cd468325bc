"""Refunds: written before the gateway is called, never above what was captured."""

from decimal import Decimal

from django.db import transaction as db

from common.db import retry_on_conflict
from payments.errors import RefundExceedsCaptured, RefundNotRetryable
from payments.models import ZERO, Payment, PaymentTransaction
from payments.services._base import REFUND_ORDER, Kind, _refundable, _retry, _spread


@retry_on_conflict
@db.atomic
def refund_issue(
    *, payments: list[Payment], amount: Decimal, reason: str, key: str
) -> list[PaymentTransaction]:
    """Refund `amount` over a demand's tenders in `REFUND_ORDER`, once per `key` (e.g. a
    return's id): one `pending` refund row per tender used, written under the payments'
    locks with refunded + held refunds <= captured on each (held: pending, or failed with
    an unknown outcome); the gateway is called after commit. 409 when the tenders have less
    left to refund."""
    rows, left = _spread(
        kind=Kind.REFUND,
        payments=payments,
        amount=amount,
        key=key,
        reason=reason,
        order=REFUND_ORDER,
        room=_refundable,
    )
    if left > ZERO:
        raise RefundExceedsCaptured(requested=str(amount), refundable=str(amount - left))
    return rows


@db.atomic
def refund_retry(*, transaction: PaymentTransaction, actor=None) -> PaymentTransaction:
    """Try a failed refund again (pending, then the gateway after commit). After a decline
    it goes under a new gateway key; after a timeout under the same one, so a refund the
    gateway did make is not made twice. 409 unless failed, or when it no longer fits."""

    def too_much(amount: Decimal, left: Decimal) -> Exception:
        return RefundExceedsCaptured(requested=str(amount), refundable=str(left))

    return _retry(
        transaction=transaction,
        kind=Kind.REFUND,
        room=_refundable,
        not_retryable=RefundNotRetryable,
        too_much=too_much,
        actor=actor,
    )

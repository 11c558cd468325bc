"""Settling a demand that shrank: void what is no longer to be captured, refund the rest."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction as db

from payments.models import ZERO, Payment, PaymentTransaction
from payments.services._base import (
    REFUND_ORDER,
    VOID_ORDER,
    Kind,
    Method,
    _demand_locked,
    _in_order,
    _money,
    _open,
    _refundable,
    _write_spread,
)


@dataclass(frozen=True)
class DemandSettled:
    """What `demand_settle` asked the gateways for."""

    voided: Decimal = ZERO
    refunded: Decimal = ZERO
    transactions: tuple[PaymentTransaction, ...] = ()


@db.atomic(savepoint=False)  # in the caller's transaction: no savepoint
def demand_settle(*, demand: str, owed: Decimal, key: str, reason: str = "") -> DemandSettled:
    """The demand now owes `owed` in all (a cancel shrank it): authorization beyond what is
    still to be captured is voided (cards first), money captured beyond `owed` is refunded
    (in `REFUND_ORDER`), and a payment nothing was tendered for follows what is owed
    (voided once nothing is). Once per `key`; the gateway is called after commit."""
    owed = _money(owed, positive=False)
    locked, held = _demand_locked(demand)
    if not locked:
        return DemandSettled()
    tendered = [p.pk for p in locked if p.method != Method.NOT_GIVEN]
    done = list(
        PaymentTransaction.objects.filter(
            payment_id__in=tendered, kind__in=[Kind.VOID, Kind.REFUND], idempotency_key=key
        )
    )
    if done:
        return DemandSettled(transactions=tuple(done))
    kept = sum((_refundable(p, held[p.pk]) for p in locked), ZERO)
    coming = sum((held[p.pk][Kind.CAPTURE] for p in locked), ZERO)
    still_to_capture = max(ZERO, owed - kept - coming)
    open_total = sum((_open(p, held[p.pk]) for p in locked), ZERO)
    void = max(ZERO, open_total - still_to_capture)
    refund = max(ZERO, min(kept, kept + coming - owed))
    rows = []
    if void:
        rows += _write_spread(
            kind=Kind.VOID,
            tenders=_in_order(locked, VOID_ORDER),
            amount=void,
            key=key,
            reason=reason,
            room=lambda p: _open(p, held[p.pk]),
        )
    if refund:
        rows += _write_spread(
            kind=Kind.REFUND,
            tenders=_in_order(locked, REFUND_ORDER),
            amount=refund,
            key=key,
            reason=reason,
            room=lambda p: _refundable(p, held[p.pk]),
        )
    _untendered_follow(locked, owed)
    return DemandSettled(voided=void, refunded=refund, transactions=tuple(rows))


def _untendered_follow(locked: list[Payment], owed: Decimal) -> None:
    untendered = [p for p in locked if p.status == Payment.Status.PENDING]
    if len(untendered) == len(locked) == 1:
        # Nothing was tendered: the one payment is what is owed, nothing once nothing is.
        [payment] = untendered
        payment.amount = owed
        if owed == ZERO:
            payment.void()
        payment.save(update_fields=["amount", "status", "updated_at"])
    elif owed == ZERO:
        for payment in untendered:
            payment.void()
            payment.save(update_fields=["status", "updated_at"])

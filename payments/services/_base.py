"""What the payments services share: vocabulary, the orders tenders are used in, money
checks, locks and the rows that ask a gateway for something after commit."""

from collections.abc import Callable
from decimal import Decimal

from common.outbox import outbox_publish
from payments.errors import IdempotencyKeyReused, PaymentInvalid
from payments.models import ZERO, Payment, PaymentTransaction
from payments.selectors import held_amounts
from payments.signals import points_tender_moved

Method = Payment.Method
Kind = PaymentTransaction.Kind
TxStatus = PaymentTransaction.Status
ErrorCode = PaymentTransaction.ErrorCode
TOPIC_EXECUTE = "payments.transaction_execute"

# The order in which a refund is spread over a demand's tenders: gift cards first (the
# retailer's own money back where it came from), then cards through a gateway, then a card
# at the till, then cash; tenders of one method oldest first. Loyalty points come back
# before any of them.
REFUND_ORDER = (Method.POINTS, Method.GIFT_CARD, Method.CARD, Method.CARD_PRESENT, Method.CASH)
# The order in which a capture is spread: points first (already off the customer's
# balance), then gift cards, then cards. Tenders at the till were captured when taken.
CAPTURE_ORDER = (Method.POINTS, Method.GIFT_CARD, Method.CARD)
# What a demand gives up when it shrinks: cards before gift cards before points (the
# reverse of captures, so the tender captured first keeps its authorization).
VOID_ORDER = (Method.CARD, Method.GIFT_CARD, Method.POINTS)

THROUGH_GATEWAY = (Method.CARD, Method.GIFT_CARD)
AT_TILL = (Method.CASH, Method.CARD_PRESENT)

Held = dict[str, Decimal]


def _money(amount: Decimal, *, name: str = "amount", positive: bool = True) -> Decimal:
    amount = Decimal(amount)
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise PaymentInvalid(f"{name} must have at most two decimals.", field=name)
    if amount < 0 or (positive and amount == 0):
        raise PaymentInvalid(f"{name} must be more than zero.", field=name)
    return amount.quantize(Decimal("0.01"))


def _locked(payment: Payment) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment.pk)


def _open(payment: Payment, held: Held) -> Decimal:
    """Authorized and neither captured nor held by a capture or void (on its way to the
    gateway, or of unknown outcome)."""
    return payment.authorized - payment.captured - held[Kind.CAPTURE] - held[Kind.VOID]


def _refundable(payment: Payment, held: Held) -> Decimal:
    """Captured and neither refunded nor held by a refund (pending, or of unknown outcome)."""
    return payment.captured - payment.refunded - held[Kind.REFUND]


def _same_key(payment: Payment, kind: str, key: str, amount: Decimal) -> PaymentTransaction | None:
    existing = PaymentTransaction.objects.filter(
        payment=payment, kind=kind, idempotency_key=key
    ).first()
    if existing is not None and existing.amount != amount:
        raise IdempotencyKeyReused(key=key, amount=str(existing.amount))
    return existing


def _send_after_commit(tx: PaymentTransaction) -> None:
    outbox_publish(TOPIC_EXECUTE, transaction_id=tx.pk, demand=tx.payment.demand)
    if tx.payment.method == Method.POINTS:
        # No gateway: the points themselves move now, in this transaction, by whoever
        # keeps them (orders connects the customers' ledger).
        points_tender_moved.send(sender=PaymentTransaction, payment=tx.payment, transaction=tx)


def _in_order(payments: list[Payment], order: tuple[str, ...]) -> list[Payment]:
    return sorted(
        (p for p in payments if p.method in order), key=lambda p: (order.index(p.method), p.pk)
    )


def _demand_locked(demand: str) -> tuple[list[Payment], dict[int, Held]]:
    """A demand's tenders locked in pk order, and what is held on each. A demand nothing
    was tendered for has no ledger to read."""
    locked = list(Payment.objects.select_for_update().filter(demand=demand).order_by("pk"))
    tendered = [p.pk for p in locked if p.method != Method.NOT_GIVEN]
    return locked, held_amounts(payment_ids=tendered)  # no query for an empty list


def _write_spread(
    *,
    kind: str,
    tenders: list[Payment],
    amount: Decimal,
    key: str,
    reason: str,
    room: Callable[[Payment], Decimal],
) -> list[PaymentTransaction]:
    """`pending` rows of `kind` over `tenders` in their order, each within its `room`, until
    `amount` is covered; the gateway is called after commit."""
    rows, left = [], amount
    for payment in tenders:
        take = min(room(payment), left)
        if take <= ZERO:
            continue
        tx = PaymentTransaction.objects.create(
            payment=payment, kind=kind, amount=take, idempotency_key=key, reason=reason
        )
        _send_after_commit(tx)
        rows.append(tx)
        left -= take
        if left == ZERO:
            break
    return rows


def _spread(
    *,
    kind: str,
    payments: list[Payment],
    amount: Decimal,
    key: str,
    reason: str,
    order: tuple[str, ...],
    room: Callable[[Payment, Held], Decimal],
) -> tuple[list[PaymentTransaction], Decimal]:
    """Lock a demand's tenders, then write `pending` rows of `kind` taking what each has
    `room` for, tenders in `order` (then oldest first), until `amount` is covered. Returns
    the rows and what no tender had room for (the caller raises then: its transaction rolls
    back, outbox events included); the rows already there when `key` was used."""
    amount = _money(amount)
    if not key:
        raise PaymentInvalid("An idempotency key is needed.", field="key")
    ids = sorted({p.pk for p in payments})
    locked = list(Payment.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if not locked or len(locked) != len(ids):
        raise PaymentInvalid("Unknown payments.", field="payments")
    if len({p.currency for p in locked}) > 1:
        raise PaymentInvalid("The tenders are in several currencies.", field="payments")
    if len({p.demand for p in locked}) > 1:
        raise PaymentInvalid("The tenders belong to several demands.", field="payments")
    existing = list(
        PaymentTransaction.objects.filter(
            payment_id__in=ids, kind=kind, idempotency_key=key
        ).order_by("pk")
    )
    if existing:
        if sum(tx.amount for tx in existing) != amount:
            raise IdempotencyKeyReused(key=key)
        return existing, ZERO
    held = held_amounts(payment_ids=ids)
    rows = _write_spread(
        kind=kind,
        tenders=_in_order(locked, order),
        amount=amount,
        key=key,
        reason=reason,
        room=lambda p: room(p, held[p.pk]),
    )
    return rows, amount - sum((tx.amount for tx in rows), ZERO)


def _retry(
    *,
    transaction: PaymentTransaction,
    kind: str,
    room: Callable[[Payment, Held], Decimal],
    not_retryable: type[Exception],
    too_much: Callable[[Decimal, Decimal], Exception],
    actor=None,
) -> PaymentTransaction:
    """Put a failed transaction of `kind` back to pending and send it after commit. After a
    decline it goes under a new gateway key (the gateway keeps its "no" under the old one);
    after an unknown outcome under the same key, so what the gateway did is not done twice.
    The amount must still fit the payment's `room`; an unknown outcome held its own."""
    payment = _locked(transaction.payment)
    tx = PaymentTransaction.objects.select_for_update().get(pk=transaction.pk)
    if tx.kind != kind or tx.status != TxStatus.FAILED:
        raise not_retryable(transaction=tx.pk, status=tx.status)
    left = room(payment, held_amounts(payment_ids=[payment.pk])[payment.pk])
    if tx.outcome_unknown:
        left += tx.amount  # held by this very row
    if tx.amount > left:
        raise too_much(tx.amount, left)
    if tx.error_code == ErrorCode.DECLINED:
        tx.attempt += 1
    tx.error_code, tx.error = ErrorCode.NONE, ""
    tx.actor = actor if getattr(actor, "is_authenticated", False) else None
    tx.retry()
    tx.save(update_fields=["attempt", "error_code", "error", "actor", "status", "updated_at"])
    tx.payment = payment
    _send_after_commit(tx)
    return tx

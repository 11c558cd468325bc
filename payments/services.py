"""Writes of payments: one function per use case, each its own transaction.

Money moves in two steps. A service locks the payment row, checks, and writes a `pending`
transaction in the caller's transaction, with an outbox event; after commit a worker calls
the gateway with that row's id as the idempotency key (`payment_transaction_execute`), and
the outcome is written under the payment's lock again. So a rollback sends nothing, and a
retry after a timeout is the same request to the gateway: it cannot move money twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction as db
from django_fsm import can_proceed

from common.outbox import outbox_publish
from payments.errors import (
    CaptureExceedsAuthorized,
    IdempotencyKeyReused,
    PaymentInvalid,
    RefundExceedsCaptured,
    RefundNotRetryable,
)
from payments.gateways import GatewayDeclined, GatewayUnavailable, gateway_get, gateway_names
from payments.models import ZERO, Payment, PaymentTransaction
from payments.selectors import pending_amounts

logger = logging.getLogger(__name__)

Method = Payment.Method
Kind = PaymentTransaction.Kind
TxStatus = PaymentTransaction.Status
TOPIC_EXECUTE = "payments.transaction_execute"

# The order in which a refund is spread over a demand's tenders: gift cards first (the
# retailer's own money back where it came from), then cards through a gateway, then a card
# at the till, then cash; tenders of one method oldest first. Loyalty points are not a
# tender here: the caller gives them back before it asks for the money.
REFUND_ORDER = (Method.GIFT_CARD, Method.CARD, Method.CARD_PRESENT, Method.CASH)
# The order in which a capture is spread: gift cards first, then cards. Tenders at the till
# were captured when they were taken.
CAPTURE_ORDER = (Method.GIFT_CARD, Method.CARD)

THROUGH_GATEWAY = (Method.CARD, Method.GIFT_CARD)
AT_TILL = (Method.CASH, Method.CARD_PRESENT)


def _money(amount: Decimal, *, name: str = "amount", positive: bool = True) -> Decimal:
    amount = Decimal(amount)
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise PaymentInvalid(f"{name} must have at most two decimals.", field=name)
    if amount < 0 or (positive and amount == 0):
        raise PaymentInvalid(f"{name} must be more than zero.", field=name)
    return amount.quantize(Decimal("0.01"))


def _locked(payment: Payment) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment.pk)


def _open_authorization(payment: Payment) -> Decimal:
    """Authorized and neither captured nor on its way to be captured or voided."""
    pending = pending_amounts(payment_ids=[payment.pk])[payment.pk]
    return payment.authorized - payment.captured - pending[Kind.CAPTURE] - pending[Kind.VOID]


def _same_key(payment: Payment, kind: str, key: str, amount: Decimal) -> PaymentTransaction | None:
    existing = PaymentTransaction.objects.filter(
        payment=payment, kind=kind, idempotency_key=key
    ).first()
    if existing is not None and existing.amount != amount:
        raise IdempotencyKeyReused(key=key, amount=str(existing.amount))
    return existing


def _send_after_commit(tx: PaymentTransaction) -> None:
    outbox_publish(TOPIC_EXECUTE, transaction_id=tx.pk, demand=tx.payment.demand)


@dataclass(frozen=True)
class Tender:
    """One tender as a demand's payer gave it: what `payment_record` takes."""

    amount: Decimal
    method: str = Method.NOT_GIVEN
    gateway: str = ""
    reference: str = ""


def _tender_check(tender: Tender, currency: str) -> Decimal:
    """The tender's amount, once its fields agree with its method (PaymentInvalid, 400)."""
    amount = _money(tender.amount, positive=False)
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise PaymentInvalid("currency must be a three-letter ISO code.", field="currency")
    if tender.method not in Method.values:
        raise PaymentInvalid(f"Unknown payment method {tender.method!r}.", field="method")
    if tender.method in THROUGH_GATEWAY:
        if tender.gateway not in gateway_names():
            raise PaymentInvalid(f"Unknown gateway {tender.gateway!r}.", field="gateway")
        if not tender.reference:
            raise PaymentInvalid("A gateway payment needs its reference.", field="reference")
    elif tender.gateway or tender.reference:
        raise PaymentInvalid("Only a card or gift card goes through a gateway.", field="gateway")
    return amount


def _tender_payment(*, demand: str, currency: str, tender: Tender) -> Payment:
    """The tender as an unsaved payment, in the state its ledger will put it: authorized
    through a gateway, captured at the till, pending when nothing was tendered."""
    amount = _tender_check(tender, currency)
    payment = Payment(
        demand=demand,
        method=tender.method,
        gateway=tender.gateway,
        reference=tender.reference,
        amount=amount,
        currency=currency,
    )
    if tender.method != Method.NOT_GIVEN and amount > ZERO:
        payment.authorized = amount
        payment.authorize()
        if tender.method in AT_TILL:
            payment.captured = amount
            payment.capture()
    return payment


def _tender_ledger(payment: Payment) -> list[PaymentTransaction]:
    """The succeeded rows that explain a new payment's amounts (unsaved)."""
    rows = []
    if payment.authorized:
        rows.append((Kind.AUTHORIZE, payment.authorized, payment.reference))
    if payment.captured:
        rows.append((Kind.CAPTURE, payment.captured, ""))
    ledger = []
    for kind, amount, reference in rows:
        tx = PaymentTransaction(
            payment=payment, kind=kind, amount=amount, gateway_reference=reference
        )
        tx.succeed()
        ledger.append(tx)
    return ledger


@db.atomic
def payment_record(
    *,
    demand: str,
    amount: Decimal,
    currency: str,
    method: str = Method.NOT_GIVEN,
    gateway: str = "",
    reference: str = "",
) -> Payment:
    """Record one tender of `demand`: a card or gift card the storefront authorised through
    `gateway` (`reference` is its authorisation) is authorized; cash or a card at the till is
    captured at once; no method gives a `pending` payment of `amount` (nothing tendered)."""
    tender = Tender(amount=amount, method=method, gateway=gateway, reference=reference)
    payment = _tender_payment(demand=demand, currency=currency, tender=tender)
    payment.save(force_insert=True)
    for tx in _tender_ledger(payment):
        tx.save(force_insert=True)
    return payment


def payments_new(*, demand: str, currency: str, tenders: list[Tender]) -> list[Payment]:
    """The tenders of a new demand as unsaved payments (as `payment_record` makes each).
    PaymentInvalid (400) for a bad tender. Written by `payments_insert`, or by the caller
    with its own rows when none `has_ledger` (nothing was tendered yet)."""
    return [_tender_payment(demand=demand, currency=currency, tender=t) for t in tenders]


def has_ledger(payments: list[Payment]) -> bool:
    """Whether writing `payments` also writes ledger rows (something was tendered)."""
    return any(payment.authorized or payment.captured for payment in payments)


def payments_insert(*, payments: list[Payment]) -> list[Payment]:
    """Write new payments in the caller's transaction: one multi-row INSERT of the payments
    and, when anything was tendered, one of their ledger rows."""
    if not payments:
        return []
    Payment.objects.bulk_create(payments)
    ledger = [tx for payment in payments for tx in _tender_ledger(payment)]
    if ledger:
        PaymentTransaction.objects.bulk_create(ledger)
    return payments


def payments_record(*, demand: str, currency: str, tenders: list[Tender]) -> list[Payment]:
    """Record every tender of a new demand (as `payment_record` each) in the caller's
    transaction. PaymentInvalid (400) before anything is written."""
    return payments_insert(payments=payments_new(demand=demand, currency=currency, tenders=tenders))


@db.atomic
def payment_capture(*, payment: Payment, amount: Decimal, key: str) -> PaymentTransaction:
    """Capture `amount` of what is authorized, once per `key` (e.g. a fulfillment order's
    id); the gateway is called after commit. 409 above what is left authorized."""
    amount = _money(amount)
    payment = _locked(payment)
    existing = _same_key(payment, Kind.CAPTURE, key, amount)
    if existing is not None:
        return existing
    left = _open_authorization(payment)
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
    left = _open_authorization(payment)
    if left <= ZERO:
        return None
    tx = PaymentTransaction.objects.create(
        payment=payment, kind=Kind.VOID, amount=left, idempotency_key=key, reason=reason
    )
    _send_after_commit(tx)
    return tx


def _spread(
    *,
    kind: str,
    payments: list[Payment],
    amount: Decimal,
    key: str,
    reason: str,
    order: tuple[str, ...],
    room: Callable[[Payment, dict[str, Decimal]], Decimal],
) -> tuple[list[PaymentTransaction], Decimal]:
    """Lock a demand's tenders, then write `pending` rows of `kind` taking what each has
    `room` for, tenders in `order` (then oldest first), until `amount` is covered. Returns
    the rows and what no tender had room for; the rows already there when `key` was used."""
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
    pending = pending_amounts(payment_ids=ids)
    left, rows = amount, []
    tenders = sorted(
        (p for p in locked if p.method in order), key=lambda p: (order.index(p.method), p.pk)
    )
    for payment in tenders:
        take = min(room(payment, pending[payment.pk]), left)
        if take <= ZERO:
            continue
        rows.append(
            PaymentTransaction.objects.create(
                payment=payment, kind=kind, amount=take, idempotency_key=key, reason=reason
            )
        )
        left -= take
        if left == ZERO:
            break
    if left == ZERO:
        for tx in rows:
            _send_after_commit(tx)
    return rows, left


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
        room=lambda p, pending: (
            p.authorized - p.captured - pending[Kind.CAPTURE] - pending[Kind.VOID]
        ),
    )
    if left > ZERO:
        raise CaptureExceedsAuthorized(requested=str(amount), authorized_left=str(amount - left))
    return rows


@db.atomic
def refund_issue(
    *, payments: list[Payment], amount: Decimal, reason: str, key: str
) -> list[PaymentTransaction]:
    """Refund `amount` over a demand's tenders in `REFUND_ORDER`, once per `key` (e.g. a
    return's id): one `pending` refund row per tender used, written under the payments'
    locks with refunded + pending refunds <= captured on each; the gateway is called after
    commit. 409 when the tenders have less left to refund."""
    rows, left = _spread(
        kind=Kind.REFUND,
        payments=payments,
        amount=amount,
        key=key,
        reason=reason,
        order=REFUND_ORDER,
        room=lambda p, pending: p.captured - p.refunded - pending[Kind.REFUND],
    )
    if left > ZERO:
        raise RefundExceedsCaptured(requested=str(amount), refundable=str(amount - left))
    return rows


def _demand_locked(demand: str) -> tuple[list[Payment], dict[int, dict[str, Decimal]]]:
    """A demand's tenders locked in pk order, and what is pending on each. A demand nothing
    was tendered for has no ledger to read."""
    locked = list(Payment.objects.select_for_update().filter(demand=demand).order_by("pk"))
    tendered = [p.pk for p in locked if p.method != Method.NOT_GIVEN]
    return locked, pending_amounts(payment_ids=tendered)  # no query for an empty list


def _open(payment: Payment, pending: dict[str, Decimal]) -> Decimal:
    return payment.authorized - payment.captured - pending[Kind.CAPTURE] - pending[Kind.VOID]


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


def _in_order(payments: list[Payment], order: tuple[str, ...]) -> list[Payment]:
    return sorted(
        (p for p in payments if p.method in order), key=lambda p: (order.index(p.method), p.pk)
    )


# What a demand gives up when it shrinks: cards before gift cards (the reverse of captures,
# so the tender captured first keeps its authorization).
VOID_ORDER = (Method.CARD, Method.GIFT_CARD)


@db.atomic(savepoint=False)  # in the caller's transaction: no savepoint
def demand_capture(*, demand: str, amount: Decimal, key: str) -> list[PaymentTransaction]:
    """Capture up to `amount` of what a demand's tenders have left authorized (gift cards
    first, then cards), once per `key` (a fulfillment order's id): what the till took is
    already captured and a demand nothing was tendered for has nothing to capture, so
    less (or nothing) is captured then. The gateway is called after commit."""
    amount = _money(amount, positive=False)
    if not key:
        raise PaymentInvalid("An idempotency key is needed.", field="key")
    locked, pending = _demand_locked(demand)
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
        room=lambda p: _open(p, pending[p.pk]),
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
    locked, pending = _demand_locked(demand)
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
    kept = sum((p.captured - p.refunded - pending[p.pk][Kind.REFUND] for p in locked), ZERO)
    coming = sum((pending[p.pk][Kind.CAPTURE] for p in locked), ZERO)
    still_to_capture = max(ZERO, owed - kept - coming)
    open_total = sum((_open(p, pending[p.pk]) for p in locked), ZERO)
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
            room=lambda p: _open(p, pending[p.pk]),
        )
    if refund:
        rows += _write_spread(
            kind=Kind.REFUND,
            tenders=_in_order(locked, REFUND_ORDER),
            amount=refund,
            key=key,
            reason=reason,
            room=lambda p: p.captured - p.refunded - pending[p.pk][Kind.REFUND],
        )
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
    return DemandSettled(voided=void, refunded=refund, transactions=tuple(rows))


@db.atomic
def refund_retry(*, transaction: PaymentTransaction) -> PaymentTransaction:
    """Try a failed refund again (pending, then the gateway after commit). After a decline
    it goes under a new gateway key; after a timeout under the same one, so a refund the
    gateway did make is not made twice. 409 unless failed, or when it no longer fits."""
    payment = _locked(transaction.payment)
    tx = PaymentTransaction.objects.select_for_update().get(pk=transaction.pk)
    if tx.kind != Kind.REFUND or not can_proceed(tx.retry):
        raise RefundNotRetryable(transaction=tx.pk, status=tx.status)
    pending = pending_amounts(payment_ids=[payment.pk])[payment.pk][Kind.REFUND]
    room = payment.captured - payment.refunded - pending
    if tx.amount > room:
        raise RefundExceedsCaptured(requested=str(tx.amount), refundable=str(room))
    if tx.error_code == PaymentTransaction.ErrorCode.DECLINED:
        tx.attempt += 1
    tx.error_code, tx.error = PaymentTransaction.ErrorCode.NONE, ""
    tx.retry()
    tx.save(update_fields=["attempt", "error_code", "error", "status", "updated_at"])
    tx.payment = payment
    _send_after_commit(tx)
    return tx


def payment_transaction_execute(*, transaction_id: int, attempt: int = 1) -> None:
    """Carry out a pending transaction at its gateway and record the outcome. Safe to run
    twice. An unreachable gateway raises (the outbox retries with backoff) until the
    `attempt`-th try reaches `PAYMENTS_GATEWAY_MAX_ATTEMPTS`; then, or at a decline, the
    transaction ends `failed`. Called by the outbox handler, inside its transaction: no
    payment row is locked while the gateway is called."""
    tx = PaymentTransaction.objects.select_related("payment").get(pk=transaction_id)
    if tx.status != TxStatus.PENDING:
        return
    payment = tx.payment
    if not payment.gateway:  # at the till: the store hands the money over
        _transaction_settle(tx=tx, reference="")
        return
    call = getattr(gateway_get(payment.gateway), tx.kind)
    try:
        reference = call(
            key=tx.gateway_key,
            amount=tx.amount,
            currency=payment.currency,
            reference=payment.reference,
        )
    except GatewayDeclined as exc:
        _transaction_settle(tx=tx, error=str(exc), code=PaymentTransaction.ErrorCode.DECLINED)
        return
    except GatewayUnavailable as exc:
        if attempt < settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS:
            raise
        _transaction_settle(tx=tx, error=str(exc), code=PaymentTransaction.ErrorCode.UNAVAILABLE)
        return
    _transaction_settle(tx=tx, reference=reference)


@db.atomic
def _transaction_settle(
    *, tx: PaymentTransaction, reference: str = "", error: str = "", code: str = ""
) -> None:
    payment = _locked(tx.payment)
    tx = PaymentTransaction.objects.select_for_update().get(pk=tx.pk)
    if tx.status != TxStatus.PENDING:
        return
    if code:
        tx.error_code, tx.error = code, error[:2000]
        tx.fail()
        tx.save(update_fields=["error_code", "error", "status", "updated_at"])
        logger.warning("%s %s of %s failed: %s", tx.kind, tx.pk, payment.demand, error)
        return
    tx.gateway_reference = reference
    tx.succeed()
    tx.save(update_fields=["gateway_reference", "status", "updated_at"])
    if tx.kind == Kind.CAPTURE:
        payment.captured += tx.amount
        payment.capture()
    elif tx.kind == Kind.VOID:
        payment.authorized -= tx.amount
    elif tx.kind == Kind.REFUND:
        payment.refunded += tx.amount
    elif tx.kind == Kind.AUTHORIZE:
        payment.authorized += tx.amount
        if can_proceed(payment.authorize):
            payment.authorize()
    for settle in (payment.void, payment.refund):
        if can_proceed(settle):
            settle()
    payment.save(update_fields=["authorized", "captured", "refunded", "status", "updated_at"])
    logger.info("%s %s of %s succeeded", tx.kind, tx.pk, payment.demand)

"""Carrying out a pending transaction at its gateway, after the commit that asked for it."""

import logging

from django.conf import settings
from django.db import transaction as db
from django_fsm import can_proceed

from common.logging import order_bind
from payments.gateways import GatewayDeclined, GatewayUnavailable, gateway_get
from payments.models import PaymentTransaction
from payments.services._base import ErrorCode, Kind, TxStatus, _locked

logger = logging.getLogger("payments.services")


def payment_transaction_execute(*, transaction_id: int, attempt: int = 1) -> None:
    """Carry out a pending transaction at its gateway and record the outcome. Safe to run
    twice. An unreachable gateway raises (the outbox retries with backoff) until the
    `attempt`-th try reaches `PAYMENTS_GATEWAY_MAX_ATTEMPTS`; then, or at a decline, the
    transaction ends `failed` (an unknown outcome keeps its amount held until retried).
    Called by the outbox handler, inside its transaction: no payment row is locked while
    the gateway is called."""
    tx = PaymentTransaction.objects.select_related("payment").get(pk=transaction_id)
    if tx.status != TxStatus.PENDING:
        return
    payment = tx.payment
    order_bind(payment.demand)
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
        _transaction_settle(tx=tx, error=str(exc), code=ErrorCode.DECLINED)
        return
    except GatewayUnavailable as exc:
        if attempt < settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS:
            raise
        _transaction_settle(tx=tx, error=str(exc), code=ErrorCode.UNAVAILABLE)
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

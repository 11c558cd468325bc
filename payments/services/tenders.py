"""Recording a demand's tenders: the storefront's authorisations and the till's money."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction as db

from payments.errors import PaymentInvalid
from payments.gateways import gateway_names
from payments.models import ZERO, Payment, PaymentTransaction
from payments.services._base import AT_TILL, THROUGH_GATEWAY, Kind, Method, _money

METHODS = frozenset(Method.values)  # Method.values builds its list on every read


@dataclass(frozen=True)
class Tender:
    """One tender as a demand's payer gave it: what `payment_record` takes."""

    amount: Decimal
    method: str = Method.NOT_GIVEN
    gateway: str = ""
    reference: str = ""
    points: int = 0  # a points tender: how many points pay `amount`
    at_once: bool = False  # a points tender of a sale handed over at once: captured now


def _tender_check(tender: Tender, currency: str) -> Decimal:
    """The tender's amount, once its fields agree with its method (PaymentInvalid, 400)."""
    amount = _money(tender.amount, positive=False)
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise PaymentInvalid("currency must be a three-letter ISO code.", field="currency")
    if tender.method not in METHODS:
        raise PaymentInvalid(f"Unknown payment method {tender.method!r}.", field="method")
    if tender.method in THROUGH_GATEWAY:
        if tender.gateway not in gateway_names():
            raise PaymentInvalid(f"Unknown gateway {tender.gateway!r}.", field="gateway")
        if not tender.reference:
            raise PaymentInvalid("A gateway payment needs its reference.", field="reference")
    elif tender.method == Method.POINTS and (tender.points <= 0 or amount <= ZERO):
        raise PaymentInvalid("A points tender needs a number of points.", field="points")
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
        points=tender.points if tender.method == Method.POINTS else 0,
    )
    if tender.method != Method.NOT_GIVEN and amount > ZERO:
        payment.authorized = amount
        payment.authorize()
        if tender.method in AT_TILL or (tender.method == Method.POINTS and tender.at_once):
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

"""Reads of payments that other apps share."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Round

from payments.models import HELD, ZERO, DummyGatewayCall, Payment, PaymentTransaction

Kind = PaymentTransaction.Kind
TxStatus = PaymentTransaction.Status
ErrorCode = PaymentTransaction.ErrorCode


@dataclass
class MoneySummary:
    """A demand's money in one currency."""

    currency: str
    amount: Decimal = ZERO
    authorized: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    # On their way to the gateway, or failed with an unknown outcome (held until retried).
    pending_captures: Decimal = ZERO
    pending_refunds: Decimal = ZERO
    payments: list[int] = field(default_factory=list)


def payments_of_demand(*, demand: str) -> list[Payment]:
    """A demand's tenders, oldest first."""
    return list(Payment.objects.filter(demand=demand).order_by("pk"))


def payments_of_demands(*, demands: list[str]) -> dict[str, list[Payment]]:
    """The tenders of each demand, oldest first: one query however many demands."""
    found: dict[str, list[Payment]] = {demand: [] for demand in demands}
    for payment in Payment.objects.filter(demand__in=demands).order_by("pk"):
        found[payment.demand].append(payment)
    return found


def payments_totals(*, payments: list[Payment], currency: str) -> dict[str, Decimal]:
    """Authorized (net of voids), captured and refunded by a demand's tenders in `currency`,
    from rows already read."""
    mine = [p for p in payments if p.currency == currency]
    return {
        "authorized": sum((p.authorized for p in mine), ZERO),
        "captured": sum((p.captured for p in mine), ZERO),
        "refunded": sum((p.refunded for p in mine), ZERO),
    }


def _sum(kind: str, *, held: bool = False) -> Coalesce:
    if held:  # `HELD`, across the relation
        status = Q(transactions__status=TxStatus.PENDING) | Q(
            transactions__status=TxStatus.FAILED, transactions__error_code=ErrorCode.UNAVAILABLE
        )
    else:
        status = Q(transactions__status=TxStatus.SUCCEEDED)
    return Coalesce(
        Sum("transactions__amount", filter=Q(transactions__kind=kind) & status),
        Value(ZERO),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )


def held_amounts(*, payment_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Capture, void and refund amounts held per payment: pending at the gateway, or failed
    with an unknown outcome (the gateway may have done it). A decline holds nothing."""
    held: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    if not payment_ids:
        return held
    rows = (
        PaymentTransaction.objects.filter(HELD, payment_id__in=payment_ids)
        .values_list("payment_id", "kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for payment_id, kind, total in rows:
        held[payment_id][kind] = total
    return held


def payments_summary(*, demand: str) -> dict[str, MoneySummary]:
    """Per currency: what the demand's tenders are for, authorized (net of voids), captured,
    refunded, and what captures and refunds are still pending at the gateway (or of an
    unknown outcome there)."""
    payments = payments_of_demand(demand=demand)
    pending = held_amounts(payment_ids=[p.pk for p in payments])
    summary: dict[str, MoneySummary] = {}
    for payment in payments:
        money = summary.setdefault(payment.currency, MoneySummary(currency=payment.currency))
        money.amount += payment.amount
        money.authorized += payment.authorized
        money.captured += payment.captured
        money.refunded += payment.refunded
        money.pending_captures += pending[payment.pk][Kind.CAPTURE]
        money.pending_refunds += pending[payment.pk][Kind.REFUND]
        money.payments.append(payment.pk)
    return summary


def _cents(expression) -> Round:
    """Rounded to the cent: SQLite adds decimals as floats (196.99 - 98.49 is not 98.50)."""
    return Round(expression, 2, output_field=DecimalField(max_digits=14, decimal_places=2))


def payment_breaches() -> list[str]:
    """Every payment whose amounts differ from its ledger or break a bound (held captures,
    voids and refunds included), or whose dummy gateway refunded more than its ledger
    records as refunded or held."""
    rows = (
        Payment.objects.annotate(
            ledger_authorized=_cents(_sum(Kind.AUTHORIZE) - _sum(Kind.VOID)),
            ledger_captured=_cents(_sum(Kind.CAPTURE)),
            ledger_refunded=_cents(_sum(Kind.REFUND)),
            pending_captures=_cents(_sum(Kind.CAPTURE, held=True)),
            pending_voids=_cents(_sum(Kind.VOID, held=True)),
            pending_refunds=_cents(_sum(Kind.REFUND, held=True)),
        )
        .annotate(
            committed=_cents(F("captured") + F("pending_captures") + F("pending_voids")),
            kept=_cents(F("refunded") + F("pending_refunds")),
        )
        .filter(
            ~Q(authorized=F("ledger_authorized"))
            | ~Q(captured=F("ledger_captured"))
            | ~Q(refunded=F("ledger_refunded"))
            | Q(captured__gt=F("authorized"))
            | Q(refunded__gt=F("captured"))
            | Q(authorized__lt=0)
            | Q(captured__lt=0)
            | Q(refunded__lt=0)
            | Q(amount__lt=0)
            | Q(authorized__lt=F("committed"))
            | Q(captured__lt=F("kept"))
        )
        .order_by("pk")
    )
    breaches = [
        f"payment {p.pk} ({p.demand}): authorized {p.authorized} (ledger {p.ledger_authorized}, "
        f"pending captures {p.pending_captures}, voids {p.pending_voids}), captured {p.captured} "
        f"(ledger {p.ledger_captured}), refunded {p.refunded} (ledger {p.ledger_refunded}, "
        f"pending {p.pending_refunds})"
        for p in rows
    ]
    negative = PaymentTransaction.objects.filter(amount__lt=0).values_list("pk", flat=True)
    breaches += [f"payment transaction {pk}: negative amount" for pk in negative]
    return breaches + _dummy_refund_breaches()


def _dummy_refund_breaches() -> list[str]:
    """Payments the dummy gateway refunded more than their ledger records (refunded and
    held). Its calls are keyed by the transaction's gateway key: `<id>` or `<id>.<n>`."""
    refunded: dict[int, Decimal] = defaultdict(lambda: ZERO)
    calls = DummyGatewayCall.objects.filter(
        operation=Kind.REFUND, outcome__in=DummyGatewayCall.EFFECTIVE
    ).values_list("key", "amount")
    for key, amount in calls:
        head = key.partition(".")[0]
        if head.isdigit():
            refunded[int(head)] += amount
    if not refunded:
        return []
    by_payment: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for tx_id, payment_id in PaymentTransaction.objects.filter(
        pk__in=list(refunded), kind=Kind.REFUND
    ).values_list("pk", "payment_id"):
        by_payment[payment_id] += refunded[tx_id]
    held = held_amounts(payment_ids=list(by_payment))
    return [
        f"payment {p.pk} ({p.demand}): gateway refunded {by_payment[p.pk]}, the ledger "
        f"records {p.refunded} refunded and {held[p.pk][Kind.REFUND]} held"
        for p in Payment.objects.filter(pk__in=list(by_payment)).order_by("pk")
        if by_payment[p.pk] > p.refunded + held[p.pk][Kind.REFUND]
    ]


def refunds_by_keys(*, demands: list[str], keys: list[str]) -> list[PaymentTransaction]:
    """The refunds of these demands' tenders asked under `keys` (returns' rounds), oldest
    first, each with its tender read with it: one query."""
    if not keys:
        return []
    return list(
        PaymentTransaction.objects.filter(
            payment__demand__in=demands, kind=Kind.REFUND, idempotency_key__in=keys
        )
        .select_related("payment")
        .order_by("pk")
    )


def payment_moved(*, payment: Payment) -> dict[str, Decimal]:
    """Captured, voided and refunded on `payment` so far, counting rows still on their way
    (pending, or of unknown outcome) with the succeeded ones; a decline counts nothing."""
    rows = (
        PaymentTransaction.objects.filter(payment=payment)
        .filter(HELD | Q(status=TxStatus.SUCCEEDED))
        .values("kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    moved = dict.fromkeys(("capture", "void", "refund"), ZERO)
    moved.update({row["kind"]: row["total"] for row in rows if row["kind"] in moved})
    return moved

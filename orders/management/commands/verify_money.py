from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Sum

from common.management.breaches import BreachCommand
from orders.models import Order
from orders.services.pricing import CENT, ZERO, order_totals
from payments.models import Payment
from payments.selectors import payment_breaches

CHUNK = 500


def _line_breaches(order: Order) -> Iterator[str]:
    for line in order.lines.all():
        owed = line.unit_price * line.quantity - line.line_discount - line.order_discount
        paid = line.unit_paid * line.quantity + CENT * line.units_paid_extra
        if owed != paid or line.unit_paid < 0 or not 0 <= line.units_paid_extra < line.quantity:
            yield (
                f"order {order.number} line {line.pk}: {line.quantity} x {line.unit_price} less "
                f"{line.line_discount} and {line.order_discount} is {owed}, its units pay {paid}"
            )


def _tenders(numbers: list[str]) -> dict[tuple[str, str], dict[str, Decimal]]:
    rows = (
        Payment.objects.filter(demand__in=numbers)
        .values("demand", "currency")
        .annotate(a=Sum("authorized"), c=Sum("captured"), r=Sum("refunded"))
        .order_by()
    )
    return {(row["demand"], row["currency"]): row for row in rows}


def money_breaches() -> list[str]:
    """Every order whose totals are not the sum of its lines (cancelled units left out), whose
    lines' units do not pay what the lines owe, or whose tenders captured more than they
    authorized or refunded more than they captured; then every breach of the payments
    ledger (`payments.selectors.payment_breaches`)."""
    breaches: list[str] = []
    orders = Order.objects.prefetch_related("lines").order_by("pk")
    batch: list[Order] = []
    for order in orders.iterator(chunk_size=CHUNK):
        batch.append(order)
        if len(batch) == CHUNK:
            breaches += _batch_breaches(batch)
            batch = []
    breaches += _batch_breaches(batch)
    return breaches + payment_breaches()


def _batch_breaches(orders: list[Order]) -> list[str]:
    breaches: list[str] = []
    tenders = _tenders([order.number for order in orders]) if orders else {}
    for order in orders:
        lines = list(order.lines.all())
        breaches += _line_breaches(order)
        expected = order_totals(lines=lines, shipping_charged=order.shipping_total)
        for name, amount in expected.items():
            if getattr(order, name) != amount:
                breaches.append(
                    f"order {order.number}: {name} {getattr(order, name)}, its lines say {amount}"
                )
        money = tenders.get((order.number, order.currency))
        if money is None:
            continue
        authorized, captured, refunded = money["a"] or ZERO, money["c"] or ZERO, money["r"] or ZERO
        if captured > authorized:
            breaches.append(f"order {order.number}: captured {captured} > authorized {authorized}")
        if refunded > captured:
            breaches.append(f"order {order.number}: refunded {refunded} > captured {captured}")
    return breaches


class Command(BreachCommand):
    help = (
        "Check the orders' money: totals equal the sum of their lines after cancellations, "
        "every unit's paid price adds up to its line, captured <= authorized and refunded <= "
        "captured per order, and the payments ledger sums. Exits 1 on any breach."
    )

    breach = "money"
    holds = "The orders' money adds up."

    def breaches(self) -> list[str]:
        return money_breaches()

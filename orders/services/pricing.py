"""The order's money: tax-inclusive price snapshots, discounts spread per line and per unit,
shipping, and totals that follow every cancellation.

Discounts are spread in whole cents by largest remainder: the order-level discounts over the
lines in proportion to each line's value after its own discount, then each line's paid
amount over its units. A line stores what a unit pays (`unit_paid`) and how many of its
units pay one cent more (`units_paid_extra`, the first ones), so any units of it have an
exact price and all of them add up to what the line pays.

Which units: fulfilment takes a line's units from the front (the first `quantity_fulfilled`
units left), cancellation from the back (the last `quantity_cancelled` will never leave).
The two never overlap (`fulfilled + cancelled <= quantity`), so what was captured for the
units that left and what a cancel gives up always add up to what the line pays.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from common.models import Channel
from inventory.models import DeliveryMethod
from orders.errors import CheckoutMoneyInvalid, OrderTotalTooLarge
from orders.models import Order
from payments.gateways import gateway_names
from payments.models import Payment
from payments.selectors import payments_totals
from payments.services import AT_TILL, THROUGH_GATEWAY, Method, Tender

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def largest_amount() -> Decimal:
    """What an order's money fields can hold (9,999,999,999.99 at max_digits=12)."""
    money = Order._meta.get_field("grand_total")
    return Decimal(10) ** (money.max_digits - money.decimal_places) - Decimal(1).scaleb(
        -money.decimal_places
    )


def to_cents(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) * CENT).quantize(CENT)


def spread(total: int, weights: Sequence[int]) -> list[int]:
    """`total` cents over `weights` in proportion, by largest remainder; equal remainders go
    to the earlier weight. The shares add up to `total`, and none exceeds its weight while
    `total <= sum(weights)`."""
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class LinePrice:
    """One line's money: its price, its discounts and what each of its units pays."""

    unit_price: Decimal
    quantity: int
    line_discount: Decimal = ZERO
    order_discount: Decimal = ZERO
    unit_paid: Decimal = ZERO
    units_paid_extra: int = 0

    @property
    def value(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def paid(self) -> Decimal:
        return units_paid(self, start=0, count=self.quantity)

    def fields(self) -> dict:
        """What the order line stores."""
        return {
            "line_discount": self.line_discount,
            "order_discount": self.order_discount,
            "unit_paid": self.unit_paid,
            "units_paid_extra": self.units_paid_extra,
        }


def units_paid(line, *, start: int, count: int) -> Decimal:
    """What units `start` .. `start + count - 1` (from 0) of `line` pay. `line`: anything with
    `unit_paid` and `units_paid_extra` (a LinePrice, an OrderLine)."""
    if count <= 0:
        return ZERO
    extra = max(0, min(start + count, line.units_paid_extra) - max(start, 0))
    return (line.unit_paid * count + CENT * extra).quantize(CENT)


def lines_price(
    *, lines: Sequence[tuple[Decimal, int, Decimal]], order_discount: Decimal = ZERO
) -> list[LinePrice]:
    """`(unit_price, quantity, line_discount)` lines with `order_discount` spread over them.

    The caller has checked that each line discount is within its line's value and the
    order discount within what the lines are worth after theirs (`checkout_price`).
    """
    after = [to_cents(price * quantity) - to_cents(discount) for price, quantity, discount in lines]
    shares = spread(to_cents(order_discount), after)
    priced = []
    for (price, quantity, discount), left, share in zip(lines, after, shares, strict=True):
        unit, extra = divmod(left - share, quantity)
        priced.append(
            LinePrice(
                unit_price=price,
                quantity=quantity,
                line_discount=Decimal(discount).quantize(CENT),
                order_discount=from_cents(share),
                unit_paid=from_cents(unit),
                units_paid_extra=extra,
            )
        )
    return priced


def shipping_for(*, method: str, goods: Decimal) -> Decimal:
    """The shipping fee of an order whose goods come to `goods` (after discounts)."""
    if method == DeliveryMethod.SHIP and goods < Decimal(settings.OMS_FREE_SHIPPING_FROM):
        return Decimal(settings.OMS_SHIPPING_FEE).quantize(CENT)
    return ZERO


def order_totals(*, lines: Sequence, shipping_charged: Decimal) -> dict[str, Decimal]:
    """The order's totals from its lines as they stand (`quantity_cancelled` units left out),
    as Order fields. Shipping is what checkout charged while any unit is still to be (or
    was) delivered, none once every unit is cancelled: a cancel never adds shipping."""
    subtotal = paid = ZERO
    units = 0
    for line in lines:
        kept = line.quantity - line.quantity_cancelled
        units += kept
        subtotal += line.unit_price * kept
        paid += units_paid(line, start=0, count=kept)
    shipping = shipping_charged if units else ZERO
    return {
        "subtotal": subtotal,
        "discount_total": subtotal - paid,
        "shipping_total": shipping,
        "grand_total": paid + shipping,
    }


def money_totals(order: Order) -> dict[str, str]:
    """The totals an order shows, as strings of its fields."""
    return {
        "subtotal": str(order.subtotal),
        "discount": str(order.discount_total),
        "shipping": str(order.shipping_total),
        "grand_total": str(order.grand_total),
    }


def order_totals_display(*, order: Order, payments: list[Payment]) -> dict[str, str]:
    """The order's totals with what its tenders authorized, captured and refunded, and the
    balance still owed (grand total - captured + refunded; negative: owed back), as strings."""
    money = payments_totals(payments=payments, currency=order.currency)
    return {
        **money_totals(order),
        **{name: str(amount) for name, amount in money.items()},
        "balance": str(order.grand_total - money["captured"] + money["refunded"]),
    }


# --- checkout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Discount:
    """An order-level discount as the storefront or the till computed it."""

    code: str
    amount: Decimal
    currency: str = ""


@dataclass(frozen=True)
class CheckoutMoney:
    """A checkout's money, checked: the order's totals, each line's, and the tenders."""

    currency: str
    lines: list[LinePrice]
    totals: dict[str, Decimal]
    discounts: list[dict] = field(default_factory=list)
    tenders: list[Tender] = field(default_factory=list)

    @property
    def order_fields(self) -> dict:
        return {**self.totals, "currency": self.currency, "discounts": self.discounts}


def _is_money(amount: Decimal) -> bool:
    amount = Decimal(amount)
    return amount.is_finite() and amount >= 0 and amount.as_tuple().exponent >= -2


def _line_errors(count: int, problems: dict[int, dict]) -> list[dict]:
    return [problems.get(i, {}) for i in range(count)]


def checkout_price(
    *,
    lines: Sequence,
    method: str,
    channel: str,
    discounts: Sequence[Discount] = (),
    payments: Sequence[Tender] = (),
    payment_currencies: Sequence[str] = (),
) -> CheckoutMoney:
    """Price a checkout of `lines` (each with `sku`, `quantity`, `discount`) and check its
    money. CheckoutMoneyInvalid (400, field errors) for lines in several currencies (named),
    a discount above what it applies to or in another currency, tenders that do not add up
    to the total or do not fit the sale; OrderTotalTooLarge (400)."""
    by_currency: dict[str, list[str]] = {}
    for line in lines:
        by_currency.setdefault(line.sku.currency, []).append(line.sku.code)
    if len(by_currency) > 1:
        named = "; ".join(f"{cur}: {', '.join(skus)}" for cur, skus in sorted(by_currency.items()))
        raise CheckoutMoneyInvalid(
            errors={"lines": [f"Every line must be in one currency ({named})."]},
            currencies=by_currency,
        )
    currency = next(iter(by_currency))
    problems: dict[int, dict] = {}
    for i, line in enumerate(lines):
        if not _is_money(line.discount):
            problems[i] = {"discount": ["Not negative, with at most two decimals."]}
        elif line.discount > line.sku.price * line.quantity:
            problems[i] = {
                "discount": [f"More than the line's value ({line.sku.price * line.quantity})."]
            }
    if problems:
        raise CheckoutMoneyInvalid(errors={"lines": _line_errors(len(lines), problems)})
    after = sum((line.sku.price * line.quantity - line.discount for line in lines), ZERO)
    order_discount = sum((d.amount for d in discounts), ZERO)
    if not all(_is_money(d.amount) for d in discounts):
        raise CheckoutMoneyInvalid(errors={"discounts": ["Not negative, with two decimals."]})
    if any(d.currency and d.currency != currency for d in discounts):
        raise CheckoutMoneyInvalid(errors={"discounts": [f"The order is in {currency}."]})
    if order_discount > after:
        raise CheckoutMoneyInvalid(
            errors={"discounts": [f"More than the lines' value after their discounts ({after})."]}
        )
    priced = lines_price(
        lines=[(line.sku.price, line.quantity, line.discount) for line in lines],
        order_discount=order_discount,
    )
    subtotal = sum((p.value for p in priced), ZERO)
    goods = sum((p.paid for p in priced), ZERO)
    shipping = shipping_for(method=method, goods=goods)
    largest = largest_amount()
    if subtotal + shipping > largest:
        raise OrderTotalTooLarge(largest=str(largest), field="lines")
    grand = goods + shipping
    _check_tenders(
        payments=payments,
        currencies=payment_currencies,
        currency=currency,
        grand=grand,
        method=method,
        channel=channel,
    )
    return CheckoutMoney(
        currency=currency,
        lines=priced,
        totals={
            "subtotal": subtotal,
            "discount_total": subtotal - goods,
            "shipping_total": shipping,
            "grand_total": grand,
        },
        discounts=[{"code": d.code, "amount": str(d.amount)} for d in discounts],
        # Nothing tendered: one pending payment of the whole total, owed.
        tenders=list(payments) or [Tender(amount=grand)],
    )


def _check_tenders(
    *,
    payments: Sequence[Tender],
    currencies: Sequence[str],
    currency: str,
    grand: Decimal,
    method: str,
    channel: str,
) -> None:
    problems: dict[int, dict] = {}
    for i, tender in enumerate(payments):
        if not _is_money(tender.amount):
            problems[i] = {"amount": ["Not negative, with at most two decimals."]}
        elif i < len(currencies) and currencies[i] and currencies[i] != currency:
            problems[i] = {"currency": [f"The order is in {currency}."]}
        elif tender.method in THROUGH_GATEWAY and tender.gateway not in gateway_names():
            problems[i] = {"gateway": [f"Unknown gateway: {tender.gateway}"]}
        elif tender.method in AT_TILL and channel != Channel.STORE:
            problems[i] = {"method": ["Only an order taken in a store is paid at its till."]}
        elif method == DeliveryMethod.CARRY_OUT and tender.method not in (*AT_TILL, Method.POINTS):
            problems[i] = {
                "method": ["An in-store sale is paid at the till (cash, card_present, points)."]
            }
    if problems:
        raise CheckoutMoneyInvalid(errors={"payments": _line_errors(len(payments), problems)})
    paid = sum((t.amount for t in payments), ZERO)
    if payments and paid != grand:
        raise CheckoutMoneyInvalid(
            errors={"payments": [f"The payments add up to {paid}; the order's total is {grand}."]},
            grand_total=str(grand),
        )

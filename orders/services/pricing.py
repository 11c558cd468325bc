"""The order's money at checkout: tax-inclusive price snapshots, shipping, totals."""

from decimal import Decimal

from django.conf import settings

from inventory.models import DeliveryMethod
from orders.errors import OrderTotalTooLarge
from orders.models import Order


def largest_amount() -> Decimal:
    """What an order's money fields can hold (9,999,999,999.99 at max_digits=12)."""
    field = Order._meta.get_field("grand_total")
    return Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(1).scaleb(
        -field.decimal_places
    )


def order_totals(*, lines: list[tuple[Decimal, int]], method: str) -> dict[str, Decimal]:
    """The totals of an order of `(unit_price, quantity)` lines delivered by `method`.

    Raises OrderTotalTooLarge (400) rather than let the database refuse the amount.
    """
    subtotal = sum((price * quantity for price, quantity in lines), Decimal("0"))
    shipping = Decimal("0")
    if method == DeliveryMethod.SHIP and subtotal < Decimal(settings.OMS_FREE_SHIPPING_FROM):
        shipping = Decimal(settings.OMS_SHIPPING_FEE)
    largest = largest_amount()
    if subtotal + shipping > largest:
        raise OrderTotalTooLarge(largest=str(largest), field="lines")
    return {
        "subtotal": subtotal,
        "shipping_total": shipping,
        "discount_total": Decimal("0"),
        "grand_total": subtotal + shipping,
    }

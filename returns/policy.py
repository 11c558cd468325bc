"""The return policy: which reasons, which window, which fee, how much comes back per unit.

Rules only, read from settings (and per SKU where it makes sense); the services apply them
under the order lines' locks.
"""

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.text import slugify

from inventory.models import Sku
from orders.models import Order, OrderLine
from orders.services.pricing import units_paid

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def return_reasons() -> list[str]:
    """The reason codes a return line may give (OMS_RETURN_REASONS)."""
    return list(settings.OMS_RETURN_REASONS)


def reason_code(text: str) -> str | None:
    """The configured reason `text` names ("too small" and "too_small" alike), or None."""
    code = slugify(text or "").replace("-", "_")
    return code if code in return_reasons() else None


def window_days(sku: Sku) -> int:
    """How long after hand-over or shipment `sku` may be returned: its own, or the default."""
    if sku.return_window_days is not None:
        return sku.return_window_days
    return settings.OMS_RETURN_WINDOW_DAYS


def window_ends(*, sku: Sku, handed_over_at: datetime | None) -> datetime | None:
    return handed_over_at + timedelta(days=window_days(sku)) if handed_over_at else None


def fee_percent(reason: str) -> Decimal:
    """The restocking fee of `reason`, as a percentage of what the unit paid (0 unless set)."""
    return Decimal(str(settings.OMS_RETURN_RESTOCKING_FEE_PERCENT.get(reason, "0")))


def units_value(line: OrderLine, *, start: int, count: int) -> Decimal:
    """What `count` units of `line` paid, from its `start`-th unit, discounts as spread: the
    units returned first are the ones that paid a cent more, so several returns of one line
    add up to what it paid."""
    return units_paid(line, start=start, count=count)


def restocking_fee(*, paid: Decimal, reason: str) -> Decimal:
    fee = (paid * fee_percent(reason) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return min(max(fee, ZERO), paid)


def refunds_shipping(
    *, order: Order, lines: dict[int, OrderLine], returning: dict[int, int]
) -> bool:
    """Whether this return brings back the order's shipping: policy says so, the order was
    shipped, and with these units every unit of it that was not cancelled is returned."""
    if not settings.OMS_RETURN_REFUNDS_SHIPPING or order.shipping_total <= ZERO:
        return False
    return all(
        line.quantity_returned + returning.get(line.pk, 0)
        == line.quantity - line.quantity_cancelled
        for line in lines.values()
    )

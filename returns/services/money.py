"""The money of a return: what each line refunds, and the refunds issued through payments."""

from decimal import Decimal

from common.outbox import outbox_publish
from orders.events import order_event_refunded
from orders.models import Order, OrderLine
from orders.services.points import order_points_returned
from payments.models import Payment
from payments.selectors import payments_of_demand
from payments.services import refund_issue
from returns.errors import RefundCannotShrink
from returns.models import Condition, Return, ReturnLine
from returns.policy import ZERO, restocking_fee, units_value
from returns.references import ReturnReference


def line_price(*, line: ReturnLine, order_line: OrderLine, start: int) -> None:
    """What the line's units paid and the fee they carry (set, not saved): its units are the
    line's `start`-th on (the next not yet returned), exchanged units first, and exchanged
    units carry no restocking fee."""
    line.unit_paid = units_value(order_line, start=start, count=line.quantity)
    refunded = units_value(
        order_line, start=start + line.exchanged, count=line.quantity - line.exchanged
    )
    line.fee = restocking_fee(paid=refunded, reason=line.reason)
    line.refund_amount = refunded - line.fee


def exchange_credit(line: ReturnLine) -> Decimal:
    """What the line's exchanged units paid: what the new goods may take."""
    return line.unit_paid - line.refund_amount - line.fee


def refund_due(*, ret: Return, lines: list[ReturnLine], surplus: Decimal = ZERO) -> Decimal:
    """What the return owes back in all: the lines' refunds (nothing for units that were
    not in the parcel), its shipping (unless some were not) and what an exchange did not
    take."""
    missing = any(line.condition == Condition.MISSING for line in lines)
    goods = sum((line.refund_amount for line in lines if not missing_units(line)), ZERO)
    # Shipping comes back with the whole order, not when part of it never did.
    shipping = ZERO if missing else ret.shipping_refunded
    return goods + shipping + surplus


def missing_units(line: ReturnLine) -> bool:
    return line.condition == Condition.MISSING


def _tendered(order: Order) -> list[Payment]:
    return [p for p in payments_of_demand(demand=order.number) if p.method]


def return_refund(*, ret: Return, order: Order, due: Decimal, actor=None) -> Decimal:
    """Refund what `due` adds to what the return refunded before, under the next round's
    key (a retry of the same round is the same refund), in the caller's transaction; the
    gateway is called after commit. RefundCannotShrink (409) when `due` is below what was
    refunded. An order nothing was tendered for has nothing to refund through payments (its
    till settles it). Returns the amount asked now."""
    more = due - ret.refund_total
    if more < ZERO:
        raise RefundCannotShrink(refunded=str(ret.refund_total), due=str(due))
    if more == ZERO:
        return ZERO
    if ret.refund_rounds == 0:
        # The returned units no longer earn: what they earned is taken back at the rate it
        # was earned with (once per return), and the tier follows. Redeemed points come
        # back below, first among the tenders.
        order_points_returned(
            order=order,
            source=f"return/{ret.rma}",
            quantities={rl.order_line_id: rl.quantity for rl in ret.lines.all()},
        )
    tenders = _tendered(order)
    if not tenders:
        return ZERO
    key = str(ReturnReference(rma=ret.rma, round=ret.refund_rounds))
    refund_issue(payments=tenders, amount=more, reason=f"return {ret.rma}", key=key)
    ret.refund_total += more
    ret.refund_rounds += 1
    order_event_refunded(
        order=order,
        message=f"Refunding {more} {order.currency} for return {ret.rma}",
        data={"amount": str(more), "return": ret.rma, "key": key},
        actor=actor,
        location=ret.location,
    )
    outbox_publish("return.refunded", rma=ret.rma)
    return more

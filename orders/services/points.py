"""An order's loyalty points: its points tender follows its money, its lines earn.

The points tender is a `payments.Payment(method=points)`; payments knows nothing of the
ledger, so every capture, void or refund row it writes for one is mirrored here, in the
same transaction, onto the customer's redemption (`customers.points`): a capture spends
the hold, a void releases it, a refund restores spent points into their lots. Earning runs
after commit (outbox handlers in `orders.handlers`), once per source.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from common.outbox import outbox_event, outbox_publish
from customers.errors import UnknownMember
from customers.models import Customer
from customers.points import (
    PendingWanted,
    points_account_lock,
    points_earn,
    points_hold_follow,
    points_pending_follow_many,
    points_redeem,
    points_reverse_earned,
    points_tier_refresh,
)
from customers.selectors import customer_by_member, points_earned_for, points_spend_outside_orders
from orders.models import Order, OrderLine
from orders.references import EarnReference, TenderReference
from orders.services.pricing import ZERO, units_paid
from payments.models import Payment, PaymentTransaction
from payments.selectors import payment_moved, payments_of_demand, payments_of_demands
from payments.services import Method

TOPIC_PENDING = "orders.points_pending"
TOPIC_EARN = "orders.points_earn"
TIER_WINDOW = timedelta(days=365)


def _points_of(payment: Payment, money: Decimal) -> int:
    """The points that pay `money` of a points tender (its amount pays all its points)."""
    if payment.amount <= ZERO:
        return 0
    share = money * payment.points / payment.amount
    return min(payment.points, int(share.quantize(Decimal("1"), rounding=ROUND_HALF_UP)))


def order_points_tender_follow(*, payment: Payment, transaction: PaymentTransaction) -> None:
    """A capture, void or refund of a points tender was written: the redemption follows it.
    Spent is what its captures pay, released what its voids gave up, restored what its
    refunds gave back (never more than was spent), in points."""
    moved = payment_moved(payment=payment)
    spent = _points_of(payment, moved["capture"])
    released = payment.points - _points_of(payment, payment.amount - moved["void"])
    restored = min(spent, _points_of(payment, moved["refund"]))
    points_hold_follow(
        redeem_source=str(TenderReference(payment_id=payment.pk)),
        spent=spent,
        released=released,
        restored=restored,
        source=f"{TenderReference(payment_id=payment.pk)}/tx/{transaction.pk}",
    )


def order_points_lock(*, order: Order) -> None:
    """Before the order's stock rows are locked: its customer's points account, when points
    pay for it, since a capture, void or refund of that tender moves the account after the
    stock (checkout takes the account before the stock)."""
    if any(p.method == Method.POINTS for p in payments_of_demand(demand=order.number)):
        points_account_lock(customer=order.customer)


def order_points_redeem(*, order: Order, payments: list[Payment]) -> None:
    """Checkout: hold the points of the order's points tenders, in its transaction (its
    stock is reserved after); a tender taken at once (a sale at the till) is spent at
    once. InsufficientPoints (409) rolls the whole checkout back."""
    for payment in payments:
        if payment.method != Method.POINTS:
            continue
        source = str(TenderReference(payment_id=payment.pk))
        points_redeem(
            customer=order.customer, points=payment.points, source=source, demand=order.number
        )
        if payment.captured:
            points_hold_follow(
                redeem_source=source, spent=payment.points, released=0, restored=0, source=source
            )


def _earning_share(
    order: Order, lines: list[OrderLine], payments: list[Payment] | None = None
) -> Decimal:
    """The part of each unit's paid price that earns: what points did not pay (`payments`:
    the order's tenders, when read already)."""
    goods = sum((units_paid(line, start=0, count=line.quantity) for line in lines), ZERO)
    if payments is None:
        payments = payments_of_demand(demand=order.number)
    points = sum((p.amount for p in payments if p.method == Method.POINTS), ZERO)
    if goods <= ZERO:
        return ZERO
    return max(ZERO, (goods - points) / goods)


def _open_value(lines: list[OrderLine]) -> Decimal:
    return sum(
        (
            units_paid(line, start=line.quantity_fulfilled, count=line.quantity_open)
            for line in lines
        ),
        ZERO,
    )


def order_points_pending_event(*, number: str, source: str = ""):
    """The unsaved outbox event that brings the order's pending points up to date after
    commit (checkout writes it with its rows)."""
    return outbox_event(TOPIC_PENDING, number=number, source=source or number)


def order_points_pending_publish(*, number: str, source: str) -> None:
    outbox_publish(TOPIC_PENDING, number=number, source=source)


def order_points_earn_publish(*, number: str, key: str, value: Decimal) -> None:
    """Units of `number` worth `value` (goods, before points) left under `key`: they earn
    after commit."""
    outbox_publish(TOPIC_EARN, number=number, key=key, value=str(value))


def order_points_earn_event(*, number: str, key: str, value: Decimal):
    return outbox_event(TOPIC_EARN, number=number, key=key, value=str(value))


@transaction.atomic(savepoint=False)  # in the caller's transaction (an outbox delivery's)
def order_points_pending_many(*, wanted: list[tuple[str, str]]) -> None:
    """What each order's open units will earn, pending, for each (number, source) of
    `wanted`, in that order: written once, then lowered when units are cancelled. In a
    constant number of statements: the orders, their lines and their tenders read in one
    each, the points written by `points_pending_follow_many`. Order.DoesNotExist when one
    of the orders is unknown."""
    orders = {
        order.number: order
        for order in Order.objects.filter(number__in={n for n, _ in wanted})
        .only("number", "customer_id")  # all this reads of the order itself
        .prefetch_related("lines")
    }
    missing = {n for n, _ in wanted} - orders.keys()
    if missing:
        raise Order.DoesNotExist(f"no order {', '.join(sorted(missing))}")
    tenders = payments_of_demands(demands=list(orders))
    open_value: dict[str, Decimal] = {}
    for number, order in orders.items():
        lines = list(order.lines.all())
        share = _earning_share(order, lines, tenders[number])
        open_value[number] = (_open_value(lines) * share).quantize(Decimal("0.01"))
    points_pending_follow_many(
        wanted=[
            PendingWanted(
                customer_id=orders[number].customer_id,
                demand=number,
                source=source,
                value=open_value[number],
            )
            for number, source in wanted
        ]
    )


@transaction.atomic
def order_points_earn(*, number: str, key: str, value: Decimal) -> None:
    """Units paid `value` left (shipped, handed over, sold at the till) under `key`: they
    earn at today's rate and tier, once per key; the customer's tier follows."""
    order = Order.objects.select_related("customer").get(number=number)
    lines = list(order.lines.all())
    share = _earning_share(order, lines)
    points_earn(
        customer=order.customer,
        source=str(EarnReference(number=number, key=key)),
        demand=number,
        value=(Decimal(value) * share).quantize(Decimal("0.01")),
        open_value=(_open_value(lines) * share).quantize(Decimal("0.01")),
    )
    customer_tier_refresh(customer=order.customer)


def customer_spend(*, customer: Customer, now=None) -> Decimal:
    """What the customer paid for units fulfilled and not returned, over orders of the
    trailing 12 months, in every channel."""
    since = (now or timezone.now()) - TIER_WINDOW
    lines = OrderLine.objects.filter(order__customer=customer, order__created_at__gte=since)
    return sum(
        (
            units_paid(line, start=0, count=line.quantity_fulfilled - line.quantity_returned)
            for line in lines.only(
                "unit_paid", "units_paid_extra", "quantity_fulfilled", "quantity_returned"
            )
        ),
        ZERO,
    )


def customer_tier_refresh(*, customer: Customer):
    """Recompute the customer's tier from their trailing 12-month spend net of returns, in
    orders and in tills' sales synced through the movements API (on every fulfilment;
    returns call it after they record the returned units), so a return can drop it."""
    since = timezone.now() - TIER_WINDOW
    spend = customer_spend(customer=customer) + points_spend_outside_orders(
        customer=customer, since=since
    )
    return points_tier_refresh(customer=customer, spend=spend)


def order_points_pos_sale(*, movement, member_id: str, paid: Decimal | None) -> None:
    """A till's sale synced through the movements API to member `member_id` earns on what
    it paid (the units' price when it did not say), once per (source, external id).
    UnknownMember (400) refuses the row, its stock movement too."""
    customer = customer_by_member(member_id=member_id)
    if customer is None:
        raise UnknownMember(member_id=member_id, field="member_id")
    value = paid if paid is not None else movement.sku.price * -movement.delta_on_hand
    points_earn(
        customer=customer,
        source=str(EarnReference(pos_source=movement.source, pos_id=movement.external_id)),
        value=Decimal(value),
    )
    customer_tier_refresh(customer=customer)


@transaction.atomic
def order_points_returned(*, order: Order, source: str, quantities: dict[int, int]) -> list:
    """For returns: take back what the returned units (`quantities` per line id) earned, at
    the rate and multiplier they were earned with (the earn entries of the order, newest
    first), once per `source`; then the customer's tier follows. Redeemed points come
    back through the refund of the points tender (REFUND_ORDER: points first)."""
    lines = {line.pk: line for line in order.lines.all()}
    share = _earning_share(order, list(lines.values()))
    value = ZERO
    for line_id, qty in quantities.items():
        line = lines[line_id]
        value += units_paid(line, start=max(0, line.quantity_fulfilled - qty), count=qty)
    value = (value * share).quantize(Decimal("0.01"))
    earns = points_earned_for(demand=order.number)
    reversed_entries, left = [], value
    for n, earned in enumerate(earns):
        if left <= ZERO:
            break
        part = min(left, earned.value or ZERO)
        entry = points_reverse_earned(
            customer=order.customer,
            source=f"{source}/{n}",
            earned_source=earned.source,
            value=part,
        )
        if entry is not None:
            reversed_entries.append(entry)
        left -= part
    customer_tier_refresh(customer=order.customer)
    return reversed_entries

"""Exchanges: returned units swapped at the receiving store for another SKU or size, as a
new in-store demand there through the orders checkout (or shipped to the customer through
the normal routing when the store has none). What the returned units paid is credited to
the new order (an order-level discount); the till takes any difference, and what the new
goods do not take is refunded with the return."""

from collections import defaultdict
from decimal import Decimal

from common.models import Channel
from inventory.errors import InsufficientStock
from inventory.models import DeliveryMethod
from orders.events import order_event_return_exchanged
from orders.models import Order
from orders.services.checkout import CheckoutLine, CheckoutRequest, checkout
from orders.services.pricing import Discount, shipping_for
from payments.services import Tender
from returns.models import Return, ReturnLine
from returns.policy import ZERO
from returns.services.money import exchange_credit


def _request(*, ret: Return, order: Order, method: str, goods: dict, credit: Decimal, tender: str):
    value = sum((sku.price * qty for sku, qty in goods.items()), ZERO)
    used = min(credit, value)
    difference = value - used + shipping_for(method=method, goods=value - used)
    at_store = method == DeliveryMethod.CARRY_OUT
    return CheckoutRequest(
        channel=Channel.STORE,
        method=method,
        lines=[CheckoutLine(sku=sku, quantity=qty) for sku, qty in goods.items()],
        email=order.customer.email,
        phone=order.customer.phone,
        name=order.customer.name,
        location=ret.location if at_store else None,
        address=None if at_store else order.shipping_address,
        store=ret.location,
        discounts=(Discount(code=f"EXCHANGE-{ret.rma}", amount=used),) if used else (),
        payments=(Tender(amount=difference, method=tender),) if difference else (),
    ), credit - used


def return_exchange(
    *, ret: Return, order: Order, lines: list[ReturnLine], actor, tender: str
) -> Order | None:
    """Place the return's exchange, in the caller's transaction: handed over at the
    receiving store at once when it has the goods, else shipped to the order's address
    (InsufficientStock, 409, when neither can be). Sets `ret.exchange_order` and what the
    new goods left of the credit (`ret.exchange_surplus`, refunded with the return)."""
    swaps = list(ret.exchanges.select_related("sku").order_by("pk"))
    if not swaps:
        return None
    goods: dict = defaultdict(int)
    for swap in swaps:
        goods[swap.sku] += swap.quantity
    credit = sum((exchange_credit(line) for line in lines), ZERO)
    methods = [DeliveryMethod.CARRY_OUT]
    if order.shipping_address.get("latitude") is not None:
        methods.append(DeliveryMethod.SHIP)
    for i, method in enumerate(methods):
        request, surplus = _request(
            ret=ret, order=order, method=method, goods=goods, credit=credit, tender=tender
        )
        try:
            placed = checkout(request=request, actor=actor)
        except InsufficientStock:
            if i == len(methods) - 1:
                raise
            continue
        break
    new = placed.order
    ret.exchange_order = new
    ret.exchange_surplus = surplus
    how = "handed over" if method == DeliveryMethod.CARRY_OUT else "to be shipped"
    order_event_return_exchanged(
        order=order,
        message=f"Return {ret.rma}: exchanged for order {new.number}, {how}",
        data={"return": ret.rma, "order": new.number, "method": method,
              "credit": str(credit - surplus), "charged": str(new.grand_total),
              "refunded_surplus": str(surplus)},
        actor=actor,
        location=ret.location,
    )  # fmt: skip
    return new

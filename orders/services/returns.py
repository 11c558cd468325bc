"""What the order learns about returns: the one place its returned units and its
`return_status` change (the returns app calls it; the orders app never imports returns)."""

from django.db import transaction
from django_fsm import can_proceed

from orders.errors import ReturnExceedsFulfilled
from orders.models import Order, OrderLine
from orders.services.lifecycle import order_get_for_update


def order_lines_for_return(*, order: Order) -> tuple[Order, dict[int, OrderLine]]:
    """The order and its lines locked (order first, lines in pk order, as every writer of
    the order locks them), for a return to count what is still returnable. In the caller's
    transaction."""
    order = order_get_for_update(number=order.number)
    lines = {line.pk: line for line in order.lines.select_for_update().order_by("pk")}
    return order, lines


def _return_status_follow(order: Order, lines: list[OrderLine]) -> None:
    returned = sum(line.quantity_returned for line in lines)
    fulfilled = sum(line.quantity_fulfilled for line in lines)
    still_open = any(line.quantity_open for line in lines)
    if returned == 0:
        if can_proceed(order.return_undone):
            order.return_undone()
    elif returned == fulfilled and not still_open:
        if order.return_status != Order.ReturnStatus.RETURNED and can_proceed(order.return_fully):
            order.return_fully()
    elif order.return_status != Order.ReturnStatus.PARTIALLY_RETURNED:
        order.return_partially()


@transaction.atomic
def order_lines_returned(
    *, order: Order, quantities: dict[int, int], reference: str, actor=None
) -> Order:
    """Units of lines came back (`reference`: the return, opaque here); a negative quantity
    is units handed back to the customer (a return rejected after receipt). The order's
    `return_status` follows: partially returned, or returned once every unit that was not
    cancelled is back. ReturnExceedsFulfilled (409) beyond what was fulfilled."""
    order, lines = order_lines_for_return(order=order)
    for line_id, quantity in quantities.items():
        line = lines[line_id]
        if not 0 <= line.quantity_returned + quantity <= line.quantity_fulfilled:
            raise ReturnExceedsFulfilled(
                line=line.pk,
                requested=quantity,
                returnable=line.quantity_fulfilled - line.quantity_returned,
                reference=reference,
            )
        line.quantity_returned += quantity
    OrderLine.objects.bulk_update(list(lines.values()), ["quantity_returned"])
    before = order.return_status
    _return_status_follow(order, list(lines.values()))
    if order.return_status != before:
        order.save(update_fields=["return_status", "updated_at"])
    return order

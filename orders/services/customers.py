"""What orders do when a customer identity changes: a merge moves the orders."""

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from orders.events import order_event_customer_merged, order_events_write
from orders.models import Order
from orders.selectors import order_list


def orders_follow_customer_merge(*, survivor, merged, actor=None) -> int:
    """In the merge's transaction: the merged record's orders become the survivor's, each
    with a `customer_merged` event on its timeline. Returns how many moved."""
    orders = list(Order.objects.select_for_update().filter(customer=merged).order_by("pk"))
    if not orders:
        return 0
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        customer=survivor, updated_at=timezone.now()
    )
    order_events_write(
        [
            order_event_customer_merged(
                order=order, survivor=survivor, merged=merged, actor=actor, save=False
            )
            for order in orders
        ]
    )
    return len(orders)


def customers_with_visible_orders(*, user, auth=None) -> Q:
    """Customers with an order the caller may list (see `order_list`): whom a channel or
    a store serves."""
    visible = order_list(user=user, auth=auth).filter(customer_id=OuterRef("pk"))
    return Q(Exists(visible.order_by().values("pk")))

"""Reads of returns, scoped to what the caller may see.

A channel's client sees the returns of the orders it sees (its channel's, and its
customers' whole history). Staff see the returns received or opened at their locations,
and every return not received anywhere (any store that accepts returns may
receive it, found by its code, order number, email or phone). Superusers see everything.
"""

from django.db.models import Q, QuerySet

from customers.selectors import customer_lookup
from orders.selectors import customer_channel, order_list
from payments.selectors import refunds_by_keys
from returns.models import Return
from returns.references import refund_keys
from stores.selectors import location_ids_for_user


def _for_display() -> QuerySet[Return]:
    return Return.objects.select_related(
        "order", "customer", "location", "opened_at", "exchange_order"
    ).prefetch_related("lines__sku", "lines__target_location", "exchanges__sku")


def return_list(*, user, auth=None) -> QuerySet[Return]:
    qs = _for_display().order_by("-created_at", "-pk")
    if user.is_superuser:
        return qs
    # A store's app token is scoped like that store's staff, not like a storefront.
    if customer_channel(auth):
        return qs.filter(order__in=order_list(user=user, auth=auth).values("pk"))
    allowed = location_ids_for_user(user=user)
    if not allowed:
        return qs.none()
    return qs.filter(
        Q(location_id__in=allowed)
        | Q(opened_at_id__in=allowed)
        | Q(location__isnull=True)  # never received: any store may be brought it
    )


def return_get(*, rma: str, user, auth=None) -> Return:
    """The return if the caller may see it; Return.DoesNotExist otherwise (a 404)."""
    return return_list(user=user, auth=auth).get(rma=rma)


def return_for_display(*, rma: str) -> Return:
    """Unscoped: for rendering what a service has just let the caller act on."""
    return _for_display().get(rma=rma)


def returns_filter(qs: QuerySet[Return], *, order: str = "", customer: str = "", code: str = ""):
    """`order` number, `customer` (email, phone or member id) or return `code`."""
    if order:
        qs = qs.filter(order__number=order)
    if code:
        qs = qs.filter(code=code.strip().upper())
    if customer:
        found = customer_lookup(identifier=customer.strip())
        qs = qs.filter(customer=found) if found else qs.none()
    return qs


def returns_refunds(*, returns: list[Return]) -> dict[str, list[dict]]:
    """Per RMA, the refunds it asked payments for (amount, currency, tender, status): one
    query however many returns."""
    owner = {
        key: ret.rma
        for ret in returns
        for key in refund_keys(rma=ret.rma, rounds=ret.refund_rounds)
    }
    found: dict[str, list[dict]] = {ret.rma: [] for ret in returns}
    demands = sorted({ret.order.number for ret in returns})
    for tx in refunds_by_keys(demands=demands, keys=list(owner)):
        found[owner[tx.idempotency_key]].append(
            {
                "amount": str(tx.amount),
                "currency": tx.payment.currency,
                "tender": tx.payment.method,
                "status": tx.status,
            }
        )
    return found


def return_refunds(*, ret: Return) -> list[dict]:
    return returns_refunds(returns=[ret])[ret.rma]

"""Reads of customers: one identity found by normalised email, E.164 phone or member id.

Every lookup answers with the survivor: a record merged into another leads to it.
"""

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from customers.models import Customer, CustomerEvent
from customers.normalise import normalise_email, normalise_member_id, normalise_phone
from customers.signals import customer_scope


def _survivor(found: Customer | None) -> Customer | None:
    if found is not None and found.merged_into_id is not None:
        return found.merged_into  # merges repoint earlier ones: never more than one step
    return found


def _holding(wanted: Q) -> Customer | None:
    return _survivor(Customer.objects.select_related("merged_into").filter(wanted).first())


def customer_find(*, email: str | None = None, phone: str | None = None) -> Customer | None:
    """The customer with this email, else with this phone (both normalised first)."""
    email, phone = normalise_email(email), normalise_phone(phone)
    if email:
        found = _holding(Q(email=email))
        if found:
            return found
    if phone:
        return _holding(Q(phone=phone))
    return None


def customer_lookup(*, identifier: str) -> Customer | None:
    """A customer by email, phone or member id."""
    if "@" in identifier:
        return _holding(Q(email=normalise_email(identifier)))
    try:
        phone = normalise_phone(identifier)
    except ValueError:
        phone = None
    if phone:
        found = _holding(Q(phone=phone))
        if found:
            return found
    member_id = normalise_member_id(identifier)
    return _holding(Q(member_id=member_id)) if member_id else None


def customer_search(
    *, email: str | None = None, phone: str | None = None, member_id: str | None = None
) -> QuerySet[Customer]:
    """The customers holding any of these exact identifiers (already normalised), each
    merged record answered by its survivor. Nothing given, nobody found: a lookup never
    lists everyone."""
    wanted = Q(pk__in=[])
    if email:
        wanted |= Q(email=email)
    if phone:
        wanted |= Q(phone=phone)
    if member_id:
        wanted |= Q(member_id=member_id)
    holders = Customer.objects.filter(wanted).annotate(survivor=Coalesce("merged_into", "pk"))
    return Customer.objects.filter(pk__in=holders.values("survivor")).order_by("pk")


def customer_get(*, pk: int, user, auth=None) -> Customer:
    """The customer if the caller may open it by id; Customer.DoesNotExist otherwise (a 404).

    Superusers open any. Others open the customers the apps above say they serve (orders:
    those with an order the caller may see; see `customer_scope`); anyone else is found only
    by an exact identifier (`customer_search`), so ids cannot be walked to list everyone.
    """
    qs = Customer.objects.select_related("merged_into")
    if user.is_superuser:
        return qs.get(pk=pk)
    return qs.filter(customers_served(user=user, auth=auth)).get(pk=pk)


def customers_served(*, user, auth=None) -> Q:
    """The customers the apps above say `user` serves (see `customer_scope`)."""
    visible = Q(pk__in=[])
    for _receiver, q in customer_scope.send(sender=Customer, user=user, auth=auth):
        if q is not None:
            visible |= q
    return visible


def customer_points_summary(customer: Customer) -> dict:
    """The customer's points as the API shows them. Nothing is earned yet: zeros."""
    return {"balance": 0, "value": "0.00", "held": 0, "pending": 0, "expiring": []}


def customer_tier(customer: Customer) -> str | None:
    """The customer's tier; none until tiers exist."""
    return None


def customer_timeline(*, customer: Customer) -> QuerySet[CustomerEvent]:
    return customer.events.select_related("actor").order_by("created_at", "pk")

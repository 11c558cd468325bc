"""Reads of customers: one identity found by normalised email, E.164 phone or member id.

Every lookup answers with the survivor: a record merged into another leads to it.
"""

from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from customers.models import (
    Customer,
    CustomerEvent,
    PointsAccount,
    PointsAllocation,
    PointsEntry,
    PointsLot,
)
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


def customer_timeline(*, customer: Customer) -> QuerySet[CustomerEvent]:
    return customer.events.select_related("actor").order_by("created_at", "pk")


def customer_points_summary(customer: Customer) -> dict:
    """The loyalty account as the API shows it: `balance` spendable now and its money
    `value`, `held` by open orders, `pending` on lines not yet shipped or handed over, and
    the lots `expiring`, soonest first."""
    from customers.points import points_value  # the loyalty vocabulary

    account = PointsAccount.objects.filter(pk=customer.pk).first()
    pending = PointsEntry.objects.filter(customer=customer).aggregate(p=Sum("pending"))["p"] or 0
    lots = (
        PointsLot.objects.filter(customer=customer, remaining__gt=0)
        .order_by("expires_on", "pk")
        .values_list("remaining", "expires_on")[:10]
    )
    balance = account.balance if account else 0
    return {
        "balance": balance,
        "value": str(points_value(balance)),
        "held": account.held if account else 0,
        "pending": pending,
        "expiring": [{"points": n, "on": on.isoformat()} for n, on in lots],
    }


def customer_tier(customer: Customer) -> str:
    """The customer's tier (from trailing 12-month spend; the lowest until they spend)."""
    from customers.points import tier_for

    account = PointsAccount.objects.filter(pk=customer.pk).only("tier").first()
    return account.tier if account and account.tier else tier_for(Decimal("0"))[0]


def points_ledger(*, customer: Customer) -> QuerySet[PointsEntry]:
    """The customer's points entries, newest first."""
    return PointsEntry.objects.filter(customer=customer).order_by("-created_at", "-pk")


def points_breaches() -> list[str]:
    """Every account whose counters differ from its ledger (balance, held; the balance
    also from what its lots have left), every lot whose remaining differs from what its
    allocations took, and every counter below zero."""
    breaches: list[str] = []
    ledger = {
        row["customer_id"]: row
        for row in PointsEntry.objects.values("customer_id")
        .annotate(points=Sum("points"), held=Sum("held"))
        .order_by()
    }
    lots = dict(
        PointsLot.objects.values("customer_id")
        .annotate(left=Sum("remaining"))
        .order_by()
        .values_list("customer_id", "left")
    )
    accounts = {a.pk: a for a in PointsAccount.objects.all()}
    for customer_id in sorted(set(ledger) | set(accounts)):
        account = accounts.get(customer_id)
        balance, held = (account.balance, account.held) if account else (0, 0)
        row = ledger.get(customer_id, {})
        points, held_ledger = row.get("points") or 0, row.get("held") or 0
        if balance != points:
            breaches.append(f"customer {customer_id}: balance {balance}, its ledger says {points}")
        if held != held_ledger:
            breaches.append(f"customer {customer_id}: held {held}, its ledger says {held_ledger}")
        if balance != (lots.get(customer_id) or 0):
            breaches.append(
                f"customer {customer_id}: balance {balance}, its lots have "
                f"{lots.get(customer_id) or 0} left"
            )
        if balance < 0 or held < 0:
            breaches.append(f"customer {customer_id}: a counter below zero")
    taken = dict(
        PointsAllocation.objects.values("lot_id")
        .annotate(n=Sum("points"))
        .order_by()
        .values_list("lot_id", "n")
    )
    lots_off = (
        (lot, lot.points - (taken.get(lot.pk) or 0))
        for lot in PointsLot.objects.order_by("pk").iterator(chunk_size=1000)
    )
    breaches.extend(
        f"lot {lot.pk}: {lot.remaining} left, its allocations leave {left}"
        for lot, left in lots_off
        if lot.remaining != left
    )
    return breaches


def points_earned_for(*, demand: str) -> list[PointsEntry]:
    """The earn entries of an order, newest first."""
    return list(
        PointsEntry.objects.filter(demand=demand, kind=PointsEntry.Kind.EARN).order_by(
            "-created_at", "-pk"
        )
    )


def customer_by_member(*, member_id: str) -> Customer | None:
    """The customer a till names by their member id (the survivor of a merged record)."""
    member_id = normalise_member_id(member_id)
    return _holding(Q(member_id=member_id)) if member_id else None


def points_spend_outside_orders(*, customer: Customer, since) -> Decimal:
    """What the customer paid in sales the ledger knows but no order does (tills synced
    through the movements API), since `since`, net of what was reversed of them."""
    rows = PointsEntry.objects.filter(
        customer=customer, demand="", kind=PointsEntry.Kind.EARN, created_at__gte=since
    )
    return rows.aggregate(v=Sum("value"))["v"] or Decimal("0.00")

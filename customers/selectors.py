"""Reads of customers: one identity found by normalised email, E.164 phone or loyalty id."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from customers.models import Customer, PointsAccount, PointsAllocation, PointsEntry, PointsLot
from customers.normalise import normalise_email, normalise_phone


def customer_find(*, email: str | None = None, phone: str | None = None) -> Customer | None:
    """The customer with this email, else with this phone (both normalised first)."""
    email, phone = normalise_email(email), normalise_phone(phone)
    if email:
        found = Customer.objects.filter(email=email).first()
        if found:
            return found
    if phone:
        return Customer.objects.filter(phone=phone).first()
    return None


def customer_lookup(*, identifier: str) -> Customer | None:
    """A customer by email, phone or loyalty id."""
    if "@" in identifier:
        return Customer.objects.filter(email=normalise_email(identifier)).first()
    try:
        phone = normalise_phone(identifier)
    except ValueError:
        phone = None
    if phone:
        found = Customer.objects.filter(phone=phone).first()
        if found:
            return found
    return Customer.objects.filter(loyalty_id=identifier).first() if identifier else None


def customer_points_summary(*, customer: Customer) -> dict:
    """The loyalty account as the API shows it: `balance` spendable now and its money
    `value`, `held` by open orders, `pending` on lines not yet shipped, the lots
    `expiring` soonest first, and the `tier`."""
    from customers.points import points_value, tier_for  # the loyalty vocabulary

    account = PointsAccount.objects.filter(pk=customer.pk).first()
    pending = PointsEntry.objects.filter(customer=customer).aggregate(p=Sum("pending"))["p"] or 0
    lots = (
        PointsLot.objects.filter(customer=customer, remaining__gt=0)
        .order_by("expires_on", "pk")
        .values_list("remaining", "expires_on")[:10]
    )
    balance = account.balance if account else 0
    return {
        "tier": account.tier if account and account.tier else tier_for(Decimal("0"))[0],
        "points": {
            "balance": balance,
            "value": str(points_value(balance)),
            "held": account.held if account else 0,
            "pending": pending,
            "expiring": [{"points": n, "on": on.isoformat()} for n, on in lots],
        },
    }


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
    """The customer a till names by their member id (the loyalty id they hold)."""
    member_id = (member_id or "").strip()
    return Customer.objects.filter(loyalty_id=member_id).first() if member_id else None


def points_spend_outside_orders(*, customer: Customer, since) -> Decimal:
    """What the customer paid in sales the ledger knows but no order does (tills synced
    through the movements API), since `since`, net of what was reversed of them."""
    rows = PointsEntry.objects.filter(
        customer=customer, demand="", kind=PointsEntry.Kind.EARN, created_at__gte=since
    )
    return rows.aggregate(v=Sum("value"))["v"] or Decimal("0.00")

"""Writers of the loyalty account: the points ledger, its lots and the counters.

Every change is one `PointsEntry`, once per (source, kind): a replayed source is a no-op
that returns the first entry. The account's `balance` and `held` move only by a conditional
UPDATE (never below zero, as stock's `reserved`), which also serialises one customer's
changes: the lots are locked and changed only after it. Spending takes the
soonest-expiring lots first; a release or a restore puts points back into the lots the
redemption took them from, so they keep their own expiry dates.

Callers pass what a lower app may know of an order: its number (`demand`) and opaque
`source` references.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from common.bulk import Rows, insert_rows
from common.db import retry_on_conflict
from common.outbox import outbox_publish
from customers.errors import InsufficientPoints, PointsAdjustmentInvalid
from customers.models import Customer, PointsAccount, PointsAllocation, PointsEntry, PointsLot

Kind = PointsEntry.Kind
ZERO = Decimal("0.00")
# A redemption gives points back with these (its hold settled one way or the other).
TAKES_BACK_REDEEM = (Kind.SPEND, Kind.RELEASE, Kind.RESTORE)


def point_value() -> Decimal:
    """What one point pays (LOYALTY_POINT_VALUE)."""
    return Decimal(str(settings.LOYALTY_POINT_VALUE))


def points_value(points: int) -> Decimal:
    """The money `points` pay, to the cent."""
    return (point_value() * points).quantize(Decimal("0.01"))


def earn_rate() -> Decimal:
    return Decimal(str(settings.LOYALTY_EARN_RATE))


def tiers() -> list[tuple[str, Decimal, Decimal]]:
    """(name, spend from, multiplier), lowest first."""
    rows = [(name, Decimal(str(low)), Decimal(str(m))) for name, low, m in settings.LOYALTY_TIERS]
    return sorted(rows, key=lambda row: row[1])


def tier_for(spend: Decimal) -> tuple[str, Decimal]:
    """The tier and earn multiplier of a trailing 12-month spend."""
    name, multiplier = "", Decimal("1")
    for tier, low, factor in tiers():
        if spend >= low:
            name, multiplier = tier, factor
    return name, multiplier


def tier_multiplier(name: str) -> Decimal:
    return next((m for tier, _low, m in tiers() if tier == name), tier_for(ZERO)[1])


def _points_for(value: Decimal, rate: Decimal, multiplier: Decimal) -> int:
    """Whole points only: a fraction of a point is never given."""
    return max(0, math.floor(value * rate * multiplier))


def _accounts_ensure(customer_ids: list[int]) -> None:
    """Create the accounts of these customers that are missing (in one statement)."""
    tier = tier_for(ZERO)[0]
    insert_rows(
        Rows(
            [PointsAccount(customer_id=pk, tier=tier) for pk in sorted(customer_ids)],
            skip_conflicts=True,
        )
    )


def _account_lock(customer_id: int) -> PointsAccount:
    _accounts_ensure([customer_id])
    return PointsAccount.objects.select_for_update().get(pk=customer_id)


def points_account_lock(*, customer: Customer) -> None:
    """Lock the customer's points account (created when missing) for the caller's
    transaction. Checkout takes it before any stock row; a writer that moves stock and then
    points (a shipment capturing a points tender, a cancel releasing one) takes it first too,
    so the two never wait for each other in a circle."""
    _account_lock(customer.pk)


def _counters_move(customer_id: int, *, points: int = 0, held: int = 0) -> bool:
    """The conditional UPDATE: False (nothing changed) when a counter would go below zero."""
    if not points and not held:
        return True
    rows = PointsAccount.objects.filter(pk=customer_id)
    if points < 0:
        rows = rows.filter(balance__gte=-points)
    if held < 0:
        rows = rows.filter(held__gte=-held)
    return rows.update(balance=F("balance") + points, held=F("held") + held) == 1


def _replayed(source: str, kind: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(source=source, kind=kind).first()


def _take_from_lots(*, customer_id: int, points: int, first_lot: int | None = None) -> list:
    """Take `points` from the customer's open lots, soonest-expiring first (`first_lot`,
    when given, before the others); returns unsaved allocations (their entry unset). The
    caller already moved the balance down, under the account's row lock."""
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(customer_id=customer_id, remaining__gt=0)
        .order_by("expires_on", "pk")
    )
    if first_lot is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot)  # stable: the rest keep their order
    allocations, left, changed = [], points, []
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        lot.remaining -= take
        left -= take
        changed.append(lot)
        allocations.append(PointsAllocation(lot=lot, points=take))
    if left:  # the balance said there were enough: the ledger and the lots disagree
        raise AssertionError(f"customer {customer_id}: lots short of the balance by {left}")
    PointsLot.objects.bulk_update(changed, ["remaining"])
    return allocations


def _give_back_to_lots(*, redeem: PointsEntry, points: int) -> list:
    """Put `points` back into the lots `redeem` took them from (latest-expiring first, so
    the customer keeps them longest); returns unsaved allocations."""
    out: dict[int, int] = {}
    rows = PointsAllocation.objects.filter(entry=redeem).values_list("lot_id", "points")
    back = PointsAllocation.objects.filter(entry__takes_back=redeem).values_list("lot_id", "points")
    for lot_id, taken in [*rows, *back]:
        out[lot_id] = out.get(lot_id, 0) + taken
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(pk__in=[lot for lot, taken in out.items() if taken > 0])
        .order_by("-expires_on", "-pk")
    )
    allocations, left = [], points
    for lot in lots:
        if left == 0:
            break
        give = min(left, out[lot.pk])
        lot.remaining += give
        left -= give
        allocations.append(PointsAllocation(lot=lot, points=-give))
    if left:
        raise AssertionError(f"redeem {redeem.pk}: {left} points more than it took")
    PointsLot.objects.bulk_update(lots, ["remaining"])
    return allocations


def _entry_write(entry: PointsEntry, allocations: list[PointsAllocation] = ()) -> PointsEntry:
    entry.save(force_insert=True)
    for allocation in allocations:
        allocation.entry = entry
    if allocations:
        PointsAllocation.objects.bulk_create(allocations)
    return entry


def _new_lot(entry: PointsEntry, *, on: date | None = None) -> PointsLot:
    days = settings.LOYALTY_POINTS_VALID_DAYS
    start = on or timezone.localdate()
    return PointsLot.objects.create(
        entry=entry,
        customer_id=entry.customer_id,
        points=entry.points,
        remaining=entry.points,
        expires_on=start + timedelta(days=days),
    )


# --- Redeeming: a tender of an order -----------------------------------------------------


@retry_on_conflict
@transaction.atomic(savepoint=False)  # in the caller's transaction (checkout's)
def points_redeem(*, customer: Customer, points: int, source: str, demand: str) -> PointsEntry:
    """Hold `points` for an order (`demand`): off the spendable balance, soonest-expiring
    lots first, until the order spends or releases them. InsufficientPoints (409) when
    the balance has fewer; nothing is written then. `source` must be new (a new tender)."""
    if not _counters_move(customer.pk, points=-points, held=points):
        account = PointsAccount.objects.filter(pk=customer.pk).first()
        raise InsufficientPoints(
            requested=points, balance=account.balance if account else 0, field="payments"
        )
    allocations = _take_from_lots(customer_id=customer.pk, points=points)
    entry = PointsEntry(
        customer=customer,
        kind=Kind.REDEEM,
        points=-points,
        held=points,
        source=source,
        demand=demand,
        value=points_value(points),
    )
    return _entry_write(entry, allocations)


def _redeem_of(source: str) -> PointsEntry:
    return PointsEntry.objects.get(source=source, kind=Kind.REDEEM)


def points_redeemed(*, redeem_source: str) -> dict[str, int]:
    """What became of a redemption: points held, spent, released and restored so far."""
    redeem = _redeem_of(redeem_source)
    rows = (
        PointsEntry.objects.filter(takes_back=redeem, kind__in=TAKES_BACK_REDEEM)
        .values("kind")
        .annotate(held=Sum("held"), points=Sum("points"))
        .order_by()
    )
    done = {row["kind"]: row for row in rows}
    spent = -done.get(Kind.SPEND, {}).get("held", 0)
    released = -done.get(Kind.RELEASE, {}).get("held", 0)
    restored = done.get(Kind.RESTORE, {}).get("points", 0)
    return {
        "redeemed": redeem.held,
        "held": redeem.held - spent - released,
        "spent": spent,
        "released": released,
        "restored": restored,
    }


@transaction.atomic
def points_hold_follow(
    *, redeem_source: str, spent: int, released: int, restored: int, source: str
) -> list[PointsEntry]:
    """Bring a redemption to `spent`, `released` and `restored` points in all (what the
    order's points tender now says): the hold is spent (fulfilled) or released (back into
    the same lots), and spent points are restored (a refund, into the same lots). Only
    growth is written, once per `source` and kind."""
    redeem = _redeem_of(redeem_source)
    _account_lock(redeem.customer_id)
    now = points_redeemed(redeem_source=redeem_source)
    entries = []
    wanted = [
        (Kind.SPEND, spent - now["spent"]),
        (Kind.RELEASE, released - now["released"]),
        (Kind.RESTORE, restored - now["restored"]),
    ]
    for kind, points in wanted:
        if points <= 0 or _replayed(source, kind):
            continue
        entry = PointsEntry(
            customer_id=redeem.customer_id,
            kind=kind,
            source=source,
            demand=redeem.demand,
            takes_back=redeem,
            value=points_value(points),
        )
        allocations = []
        if kind == Kind.SPEND:
            entry.held = -points
        elif kind == Kind.RELEASE:
            entry.held, entry.points = -points, points
            allocations = _give_back_to_lots(redeem=redeem, points=points)
        else:
            entry.points = points
            allocations = _give_back_to_lots(redeem=redeem, points=points)
        if not _counters_move(redeem.customer_id, points=entry.points, held=entry.held):
            raise AssertionError(f"redeem {redeem.pk}: held fewer than {points}")
        entries.append(_entry_write(entry, allocations))
    return entries


# --- Earning --------------------------------------------------------------------------------


def _pending_of(demand: str) -> int:
    return PointsEntry.objects.filter(demand=demand).aggregate(p=Sum("pending"))["p"] or 0


@dataclass(frozen=True)
class PendingWanted:
    """What one order's (`demand`) open units, paying `value` (points not counted), will
    earn, brought up to date once per `source`: see `points_pending_follow_many`."""

    customer_id: int
    demand: str
    source: str
    value: Decimal


@transaction.atomic(savepoint=False)  # in the caller's transaction (an outbox delivery's)
def points_pending_follow_many(*, wanted: list[PendingWanted]) -> list[PointsEntry | None]:
    """What each order's open units (paid `value`, points not counted) will earn, at
    today's rate and tier, for each of `wanted` in that order: the first call of an order
    writes it as `earn_pending`; later ones only take back what cancelled units would have
    earned (`reverse` of pending); once per source. Each as if it ran alone
    (a later one of the same order sees what an earlier one wrote); for each, the entry
    written, the first one of its source (a replay), or None (nothing to take back).
    Whatever their number: the accounts are locked in one statement, in id order (two
    batches never wait on each other in a circle), the orders' entries read in one and the
    new ones written in one."""
    if not wanted:
        return []
    accounts = {a.pk: a for a in _accounts_locked(sorted({w.customer_id for w in wanted}))}
    demands = {w.demand for w in wanted}
    known = PointsEntry.objects.filter(
        Q(demand__in=demands)
        | Q(source__in={w.source for w in wanted}, kind__in=(Kind.EARN_PENDING, Kind.REVERSE))
    )
    first: dict[tuple[str, str], PointsEntry] = {}
    started: set[str] = set()
    pending: dict[str, int] = dict.fromkeys(demands, 0)
    for entry in known:
        first[(entry.source, entry.kind)] = entry
        if entry.demand in demands:
            pending[entry.demand] += entry.pending
            if entry.kind == Kind.EARN_PENDING:
                started.add(entry.demand)
    rate, results, new = earn_rate(), [], []
    for want in wanted:
        multiplier = tier_multiplier(accounts[want.customer_id].tier)
        target = _points_for(want.value, rate, multiplier)
        begun = want.demand in started
        kind = Kind.REVERSE if begun else Kind.EARN_PENDING
        replay = first.get((want.source, kind))
        if replay is not None:
            results.append(replay)
            continue
        now = pending[want.demand]
        change = target - now if not begun else min(0, target - now)
        if change == 0 and begun:
            results.append(None)
            continue
        entry = PointsEntry(
            customer_id=want.customer_id,
            kind=kind,
            pending=change,
            source=want.source,
            demand=want.demand,
            rate=rate,
            multiplier=multiplier,
            value=want.value,
            reason="" if kind == Kind.EARN_PENDING else "units cancelled",
        )
        first[(want.source, kind)] = entry
        pending[want.demand] += change
        started.add(want.demand)
        new.append(entry)
        results.append(entry)
    insert_rows(new)
    return results


@transaction.atomic
def points_earn(
    *,
    customer: Customer,
    source: str,
    value: Decimal,
    demand: str = "",
    open_value: Decimal = ZERO,
    on: date | None = None,
) -> PointsEntry:
    """Earn on `value` paid (points not counted) for units shipped or handed over: at the
    rate in force now and the customer's tier multiplier, both recorded on the entry, in a
    new lot that expires LOYALTY_POINTS_VALID_DAYS later. What the order had pending for
    them leaves pending; `open_value` is what its units still open will pay, so pending
    keeps no more than they will earn. Once per `source`: a replay returns the first."""
    account = _account_lock(customer.pk)
    replay = _replayed(source, Kind.EARN)
    if replay is not None:
        return replay
    rate, multiplier = earn_rate(), tier_multiplier(account.tier)
    points = _points_for(value, rate, multiplier)
    pending = _pending_of(demand) if demand else 0
    still = _points_for(open_value, rate, multiplier) if demand else 0
    entry = PointsEntry(
        customer=customer,
        kind=Kind.EARN,
        points=points,
        pending=-max(0, pending - still) if demand else 0,
        source=source,
        demand=demand,
        rate=rate,
        multiplier=multiplier,
        value=value,
    )
    _counters_move(customer.pk, points=points)
    _entry_write(entry)
    if points:
        _new_lot(entry, on=on)
    return entry


@transaction.atomic
def points_reverse_earned(
    *, customer: Customer, source: str, earned_source: str, value: Decimal
) -> PointsEntry | None:
    """Take back what returned units paying `value` earned, at the rate and multiplier the
    earn (`earned_source`) was made with, never more than it earned; from its own lot first,
    then the soonest-expiring. Points already spent cannot be taken back: the balance
    never goes below zero, and the entry says how many were short. Once per `source`."""
    _account_lock(customer.pk)
    replay = _replayed(source, Kind.REVERSE)
    if replay is not None:
        return replay
    earned = PointsEntry.objects.filter(source=earned_source, kind=Kind.EARN).first()
    if earned is None:
        return None
    already = -(
        PointsEntry.objects.filter(takes_back=earned, kind=Kind.REVERSE).aggregate(p=Sum("points"))[
            "p"
        ]
        or 0
    )
    wanted = min(_points_for(value, earned.rate, earned.multiplier), earned.points - already)
    balance = PointsAccount.objects.get(pk=customer.pk).balance
    points = max(0, min(wanted, balance))
    entry = PointsEntry(
        customer=customer,
        kind=Kind.REVERSE,
        points=-points,
        source=source,
        demand=earned.demand,
        takes_back=earned,
        rate=earned.rate,
        multiplier=earned.multiplier,
        value=value,
        reason=f"{wanted - points} already spent" if points < wanted else "units returned",
    )
    allocations = []
    if points:
        _counters_move(customer.pk, points=-points)
        first = PointsLot.objects.filter(entry=earned).values_list("pk", flat=True).first()
        allocations = _take_from_lots(customer_id=customer.pk, points=points, first_lot=first)
    return _entry_write(entry, allocations)


# --- Adjusting, expiring, tiers --------------------------------------------------------------


@transaction.atomic
def points_adjust(
    *, customer: Customer, points: int, reason: str, actor, source: str
) -> PointsEntry:
    """A manager adds points (a new lot) or takes some away (soonest-expiring first), with
    a reason. PointsAdjustmentInvalid (400) without a reason or for zero points;
    InsufficientPoints (409) below the balance. Once per `source`."""
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = ["Say why."]
    if not points:
        errors["points"] = ["Give a number of points other than zero."]
    if errors:
        raise PointsAdjustmentInvalid(errors=errors)
    account = _account_lock(customer.pk)
    replay = _replayed(source, Kind.ADJUST)
    if replay is not None:
        return replay
    if not _counters_move(customer.pk, points=points):
        raise InsufficientPoints(requested=-points, balance=account.balance, field="points")
    entry = PointsEntry(
        customer=customer,
        kind=Kind.ADJUST,
        points=points,
        source=source,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason,
    )
    allocations = _take_from_lots(customer_id=customer.pk, points=-points) if points < 0 else []
    _entry_write(entry, allocations)
    if points > 0:
        _new_lot(entry)
    return entry


def points_expire_due(*, today: date | None = None, limit: int = 500) -> int:
    """Expire what is left of lots whose date has passed, up to `limit` lots; returns how
    many. Lots another worker holds are skipped (skip_locked), so workers never collide;
    each customer's are expired in one transaction, the account's lock taken first."""
    today = today or timezone.localdate()
    done = 0
    with transaction.atomic():
        due = list(
            PointsLot.objects.select_for_update(skip_locked=True)
            .filter(remaining__gt=0, expires_on__lt=today)
            .order_by("customer_id", "expires_on", "pk")
            .values_list("pk", "customer_id")[:limit]
        )
    customers: dict[int, list[int]] = {}
    for lot_id, customer_id in due:
        customers.setdefault(customer_id, []).append(lot_id)
    for customer_id, lot_ids in customers.items():
        done += _expire_lots(customer_id=customer_id, lot_ids=lot_ids, today=today)
    return done


@transaction.atomic
def _expire_lots(*, customer_id: int, lot_ids: list[int], today: date) -> int:
    _account_lock(customer_id)  # the balance's lock first, as every writer takes it
    lots = list(
        PointsLot.objects.select_for_update(skip_locked=True)
        .filter(pk__in=lot_ids, remaining__gt=0, expires_on__lt=today)
        .order_by("pk")
    )
    for lot in lots:
        points = lot.remaining
        expired_before = PointsEntry.objects.filter(kind=Kind.EXPIRE, allocations__lot=lot).count()
        _counters_move(customer_id, points=-points)
        lot.remaining = 0
        lot.save(update_fields=["remaining"])
        _entry_write(
            PointsEntry(
                customer_id=customer_id,
                kind=Kind.EXPIRE,
                points=-points,
                # A lot given points back after it expired expires again: a new source.
                source=f"lot/{lot.pk}/expire/{expired_before + 1}",
                reason=f"expired on {lot.expires_on.isoformat()}",
            ),
            [PointsAllocation(lot=lot, points=points)],
        )
    return len(lots)


def points_expiring_notify(*, today: date | None = None, limit: int = 500) -> int:
    """Tell customers whose lots expire within LOYALTY_EXPIRY_NOTICE_DAYS, once per lot,
    after commit (an outbox event per customer); returns how many customers."""
    today = today or timezone.localdate()
    until = today + timedelta(days=settings.LOYALTY_EXPIRY_NOTICE_DAYS)
    with transaction.atomic():
        lots = list(
            PointsLot.objects.select_for_update(skip_locked=True)
            .filter(remaining__gt=0, expires_on__gte=today, expires_on__lte=until)
            .filter(expiring_notified=False)
            .order_by("pk")[:limit]
        )
        by_customer: dict[int, list[PointsLot]] = {}
        for lot in lots:
            by_customer.setdefault(lot.customer_id, []).append(lot)
        PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(expiring_notified=True)
        for customer_id, its in by_customer.items():
            outbox_publish(
                "customers.points_expiring",
                customer=customer_id,
                lots=[{"points": lot.remaining, "on": lot.expires_on.isoformat()} for lot in its],
            )
    return len(by_customer)


@transaction.atomic
def points_tier_refresh(*, customer: Customer, spend: Decimal) -> PointsAccount:
    """The customer's tier from their trailing 12-month paid spend net of returns (the
    caller, who knows the orders, sums it): up or down."""
    account = _account_lock(customer.pk)
    name, _multiplier = tier_for(spend)
    if account.tier != name or account.tier_spend != spend:
        account.tier, account.tier_spend = name, spend
        account.save(update_fields=["tier", "tier_spend", "updated_at"])
    return account


def points_follow_merge(*, survivor: Customer, merged: Customer) -> None:
    """`merged` is the same person as `survivor` (inside `customer_merge`, both rows
    locked): its ledger, lots and counters move to the survivor, so one balance remains."""
    accounts = {a.pk: a for a in _accounts_locked([survivor.pk, merged.pk])}
    gone = accounts[merged.pk]
    PointsEntry.objects.filter(customer=merged).update(customer=survivor)
    PointsLot.objects.filter(customer=merged).update(customer=survivor)
    PointsAccount.objects.filter(pk=merged.pk).update(balance=0, held=0)
    _counters_move(survivor.pk, points=gone.balance, held=gone.held)


def _accounts_locked(customer_ids: list[int]) -> list[PointsAccount]:
    """The accounts (created when missing), locked in pk order: two writers never deadlock."""
    _accounts_ensure(customer_ids)
    return list(
        PointsAccount.objects.select_for_update().filter(pk__in=customer_ids).order_by("pk")
    )

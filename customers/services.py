"""Writers of customers: one customer identity across channels, enrolment and merges."""

import functools

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists
from django.db.models.query import RawQuerySet
from django.utils import timezone

from common.bulk import insert_or_read
from customers.errors import MemberIdsDiffer, MergeNotAllowed, UnknownMember
from customers.members import member_id_new
from customers.models import Customer, CustomerEvent
from customers.normalise import normalise_email, normalise_member_id, normalise_phone
from customers.selectors import customer_find
from customers.signals import customer_merged

__all__ = [
    "customer_enrol",
    "customer_get_or_create",
    "customer_merge",
    "customer_update",
    "normalise_email",
    "normalise_phone",
]

ATTEMPTS = 3


def customer_get_or_create(
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str = "",
    member_id: str = "",
    enrol: bool = False,
) -> Customer | None:
    """The member with this member id, else the customer with this email (else phone);
    created when none is known; None when nothing is given. A record merged into another
    answers with its survivor. `enrol`: a customer who is no member yet gets a member id.

    A new email, phone or name is added to the found customer when it has none and nobody
    else holds it; one it already has is never replaced. One statement creates the customer
    (with its member id, when enrolling) or reads who holds the email, phone or member id
    and their survivors (yielding to a concurrent checkout creating the same customer); a
    found customer changes in one UPDATE more. UnknownMember (400) for a member id nobody
    holds: member ids are issued here.
    """
    email, phone = normalise_email(email), normalise_phone(phone)
    member_id = normalise_member_id(member_id)
    if not email and not phone and not member_id:
        return None  # nobody to find, and a customer needs an email or a phone
    for _attempt in range(ATTEMPTS):
        wanted = _holders(email=email, phone=phone, member_id=member_id)
        if member_id:
            holders = list(wanted)  # a member is found, never created from a member id
        else:
            new = Customer(email=email, phone=phone, name=name)
            if enrol:
                new.member_id, new.enrolled_at = member_id_new(), timezone.now()
            # Created, unless the email, the phone (or the new member id) is someone's: in
            # one statement with everyone who held them before it, and their survivors.
            holders = insert_or_read(new, wanted)
            if new.pk is not None:
                return new
        customer = _found(holders, email=email, phone=phone, member_id=member_id)
        if customer is None:
            if member_id:
                raise UnknownMember(errors={"customer": {"member_id": ["No member has this id."]}})
            continue  # created by a checkout that committed meanwhile: find it again
        others = [c for c in holders if c.pk != customer.pk]
        changed = []
        if email and not customer.email and not any(c.email == email for c in others):
            customer.email = email
            changed.append("email")
        if phone and not customer.phone and not any(c.phone == phone for c in others):
            customer.phone = phone
            changed.append("phone")
        if name and not customer.name:
            customer.name = name
            changed.append("name")
        enrolling = enrol and not customer.member_id
        if enrolling:
            customer.member_id, customer.enrolled_at = member_id_new(), timezone.now()
            changed += ["member_id", "enrolled_at"]
        if not changed:
            return customer
        if not {"email", "phone"} & set(changed):
            # Only what nobody else can hold is written: one conditional UPDATE, no
            # savepoint; a member id someone drew before is drawn again.
            if _save_unless_member_id_taken(customer, changed):
                return customer
            continue
        try:
            with transaction.atomic():
                customer.save(update_fields=[*changed, "updated_at"])
            return customer
        except IntegrityError:
            continue  # the phone was taken concurrently: find again
    found = customer_find(email=email, phone=phone)
    if found is None and member_id:
        raise UnknownMember(errors={"customer": {"member_id": ["No member has this id."]}})
    return found


def _save_unless_member_id_taken(customer: Customer, fields: list[str]) -> bool:
    now = timezone.now()
    rows = Customer.objects.filter(pk=customer.pk)
    if "member_id" in fields:
        rows = rows.exclude(Exists(Customer.objects.filter(member_id=customer.member_id)))
    values = {field: getattr(customer, field) for field in fields}
    if rows.update(**values, updated_at=now) != 1:
        return False
    customer.updated_at = now
    return True


def _holders(*, email: str | None, phone: str | None, member_id: str | None) -> RawQuerySet:
    """Everyone holding this email, this phone or this member id, and whom they were
    merged into, by pk."""
    given = {"email": email, "phone": phone, "member_id": member_id}
    values = [value for value in given.values() if value]
    sql = _holders_sql(tuple(field for field, value in given.items() if value))
    return Customer.objects.raw(sql, values * 2)


@functools.cache
def _holders_sql(fields: tuple[str, ...]) -> str:
    """Every column of the holders of these identifiers (one parameter each, given twice)
    and of their survivors, in field order: written once per set of identifiers, neither
    built nor compiled on every checkout."""
    qn, opts = connection.ops.quote_name, Customer._meta
    table, pk = qn(opts.db_table), qn(opts.pk.column)
    columns = ", ".join(qn(f.column) for f in opts.concrete_fields)
    merged_into = qn(opts.get_field("merged_into").column)
    named = " OR ".join(f"{qn(opts.get_field(field).column)} = %s" for field in fields)
    # Table and column names only; every value is a parameter.
    return (
        f"SELECT {columns} FROM {table} WHERE {pk} IN ("  # noqa: S608
        f"SELECT {pk} FROM {table} WHERE {named}"
        f" UNION SELECT {merged_into} FROM {table} WHERE ({named}) AND {merged_into} IS NOT NULL"
        f") ORDER BY {pk}"
    )


def _found(
    holders: list[Customer], *, email: str | None, phone: str | None, member_id: str | None
) -> Customer | None:
    """Who the identifiers name, by member id first, then email, then phone: the survivor
    when that record was merged."""
    by_pk = {c.pk: c for c in holders}
    for field, value in (("member_id", member_id), ("email", email), ("phone", phone)):
        holder = next((c for c in holders if value and getattr(c, field) == value), None)
        if holder is not None:
            return by_pk.get(holder.merged_into_id, holder) if holder.merged_into_id else holder
    return None


@transaction.atomic
def customer_enrol(*, customer: Customer) -> Customer:
    """The customer becomes a member with a new member id (its survivor, when merged); one
    who already is keeps the id it has."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.merged_into_id is not None:
        customer = Customer.objects.select_for_update().get(pk=customer.merged_into_id)
    if customer.member_id:
        return customer
    for _attempt in range(ATTEMPTS):
        customer.member_id, customer.enrolled_at = member_id_new(), timezone.now()
        try:
            with transaction.atomic():
                customer.save(update_fields=["member_id", "enrolled_at", "updated_at"])
            return customer
        except IntegrityError:
            continue  # the random id was someone's already: draw another
    raise IntegrityError("could not draw a free member id")


@transaction.atomic
def customer_merge(
    *, survivor: Customer, merged: Customer, actor, confirm_member_ids: bool = False
) -> Customer:
    """`merged` is the same person as `survivor`: its orders (and whatever the apps above
    keep of it, through `customer_merged`) move to the survivor, which takes the email,
    phone, member id and name it lacks; `merged` is kept, pointing at the survivor, so its
    other identifiers still find the survivor. Both timelines record it.

    Both rows locked in pk order, so two merges at once queue. MergeNotAllowed (409) for
    one record, or one already merged; MemberIdsDiffer (409) for two members with their
    own ids unless `confirm_member_ids` (the survivor's id stays; the other still finds it).
    """
    if survivor.pk == merged.pk:
        raise MergeNotAllowed("A customer cannot be merged with itself.")
    pair = Customer.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
    locked = {c.pk: c for c in pair.order_by("pk")}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    for record in (survivor, merged):
        if record.merged_into_id is not None:
            raise MergeNotAllowed(
                f"{record} was already merged into another record: merge into that one.",
                customer=record.pk,
                merged_into=record.merged_into_id,
            )
    both_members = survivor.member_id and merged.member_id
    if both_members and survivor.member_id != merged.member_id and not confirm_member_ids:
        raise MemberIdsDiffer(member_ids=[survivor.member_id, merged.member_id])

    moved = [
        field
        for field in ("email", "phone", "member_id")
        if getattr(merged, field) and not getattr(survivor, field)
    ]
    values = {field: getattr(merged, field) for field in moved}
    now = timezone.now()
    # The merged record lets go of what moves first: each is unique.
    for field in moved:
        setattr(merged, field, None)
    merged.merged_into, merged.merged_at = survivor, now
    merged.save(update_fields=[*moved, "merged_into", "merged_at", "updated_at"])
    for field, value in values.items():
        setattr(survivor, field, value)
    if "member_id" in values:
        survivor.enrolled_at = merged.enrolled_at
    if not survivor.name and merged.name:
        survivor.name = merged.name
    survivor.save()
    # Records merged into this one before now lead straight to the survivor.
    Customer.objects.filter(merged_into=merged).update(merged_into=survivor, updated_at=now)

    data = {"survivor": survivor.pk, "merged": merged.pk, "moved": values}
    if both_members:
        data["member_ids"] = [survivor.member_id, merged.member_id]
    actor = actor if getattr(actor, "is_authenticated", False) else None
    CustomerEvent.objects.bulk_create(
        [
            CustomerEvent(
                customer=survivor, kind=CustomerEvent.Kind.MERGED_IN, actor=actor, data=data,
                message=f"Customer {merged.pk} ({_label(merged, values)}) merged into this one",
            ),
            CustomerEvent(
                customer=merged, kind=CustomerEvent.Kind.MERGED_AWAY, actor=actor, data=data,
                message=f"Merged into customer {survivor.pk} ({survivor})",
            ),
        ]
    )  # fmt: skip
    customer_merged.send(sender=Customer, survivor=survivor, merged=merged, actor=actor)
    return survivor


def _label(merged: Customer, moved: dict) -> str:
    """How the merged record was known, including what it handed over."""
    known = [merged.email or moved.get("email"), merged.phone or moved.get("phone")]
    return ", ".join(v for v in known if v) or merged.name or "no contact"


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    email: str | None,
    phone: str | None,
    name: str = "",
) -> Customer:
    """Save a customer as a person edited it, email and phone normalised as checkout does,
    so the next checkout finds this customer. ValueError for a phone that is not valid.
    The member id is issued (`customer_enrol`), never typed."""
    customer.email = normalise_email(email)
    customer.phone = normalise_phone(phone)
    customer.name = (name or "").strip()
    customer.save(update_fields=["email", "phone", "name", "updated_at"])
    return customer

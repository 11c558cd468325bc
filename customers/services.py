"""Writers of customers: one customer identity across channels."""

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from common.bulk import insert_or_read
from customers.models import Customer
from customers.normalise import normalise_email, normalise_phone
from customers.selectors import customer_find

__all__ = ["customer_get_or_create", "customer_update", "normalise_email", "normalise_phone"]


def customer_get_or_create(
    *, email: str | None = None, phone: str | None = None, name: str = "", loyalty_id: str = ""
) -> Customer | None:
    """The customer with this email (else phone); created when neither is known; None when
    neither is given.

    A new email, phone or loyalty id is added to the found customer when it has none and
    nobody else holds it; one it already has is never replaced. One statement creates the
    customer or finds who holds the email, phone or loyalty id (yielding to a concurrent
    checkout creating the same customer).
    """
    email, phone = normalise_email(email), normalise_phone(phone)
    loyalty_id = (loyalty_id or "").strip()
    if not email and not phone:
        return None  # nobody to find, and a customer needs one of them
    for _attempt in range(2):
        new = Customer(email=email, phone=phone, name=name, loyalty_id=loyalty_id)
        # Created, unless the email or the phone is someone's: in one statement with
        # everyone who held the email, the phone or the loyalty id before it.
        holders = insert_or_read(new, _holders(email=email, phone=phone, loyalty_id=loyalty_id))
        if new.pk is not None:
            if loyalty_id and any(c.loyalty_id == loyalty_id for c in holders):
                # A loyalty id someone else holds would make lookups by it ambiguous.
                Customer.objects.filter(pk=new.pk).update(loyalty_id="")
                new.loyalty_id = ""
            return new
        customer = next((c for c in holders if email and c.email == email), None) or next(
            (c for c in holders if phone and c.phone == phone), None
        )
        if customer is None:
            continue  # created by a checkout that committed meanwhile: find it again
        others = [c for c in holders if c.pk != customer.pk]
        changed = []
        if email and not customer.email:
            customer.email = email
            changed.append("email")
        if phone and not customer.phone and not any(c.phone == phone for c in others):
            customer.phone = phone
            changed.append("phone")
        if name and not customer.name:
            customer.name = name
            changed.append("name")
        if (
            loyalty_id
            and not customer.loyalty_id
            and not any(c.loyalty_id == loyalty_id for c in others)
        ):
            customer.loyalty_id = loyalty_id
            changed.append("loyalty_id")
        if not changed:
            return customer
        try:
            with transaction.atomic():
                customer.save(update_fields=[*changed, "updated_at"])
            return customer
        except IntegrityError:
            continue  # the phone was taken concurrently: find again
    return customer_find(email=email, phone=phone)


def _holders(*, email: str | None, phone: str | None, loyalty_id: str) -> QuerySet[Customer]:
    """Everyone holding this email, this phone or this loyalty id."""
    wanted = Q(pk__in=[])
    if email:
        wanted |= Q(email=email)
    if phone:
        wanted |= Q(phone=phone)
    if loyalty_id:
        wanted |= Q(loyalty_id=loyalty_id)
    return Customer.objects.filter(wanted).order_by("pk")


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    email: str | None,
    phone: str | None,
    name: str = "",
    loyalty_id: str = "",
) -> Customer:
    """Save a customer as a person edited it, email and phone normalised as checkout does,
    so the next checkout finds this customer. ValueError for a phone that is not valid."""
    customer.email = normalise_email(email)
    customer.phone = normalise_phone(phone)
    customer.name = (name or "").strip()
    customer.loyalty_id = (loyalty_id or "").strip()
    customer.save()
    return customer

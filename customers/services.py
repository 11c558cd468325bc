"""Writers of customers: one customer identity across channels."""

from django.db import IntegrityError, transaction

from customers.models import Customer
from customers.normalise import normalise_email, normalise_phone
from customers.selectors import customer_find, loyalty_id_free

__all__ = ["customer_get_or_create", "customer_update", "normalise_email", "normalise_phone"]


def customer_get_or_create(
    *, email: str | None = None, phone: str | None = None, name: str = "", loyalty_id: str = ""
) -> Customer:
    """The customer with this email (else phone); created when neither is known.

    A new email, phone or loyalty id is added to the found customer when it has none and
    nobody else holds it; one it already has is never replaced.
    """
    email, phone = normalise_email(email), normalise_phone(phone)
    loyalty_id = (loyalty_id or "").strip()
    for _attempt in range(2):
        customer = customer_find(email=email, phone=phone)
        try:
            with transaction.atomic():
                if customer is None:
                    # A loyalty id someone else holds would make lookups by it ambiguous.
                    keep = loyalty_id if loyalty_id and loyalty_id_free(loyalty_id) else ""
                    return Customer.objects.create(
                        email=email, phone=phone, name=name, loyalty_id=keep
                    )
                changed = []
                if email and not customer.email:
                    customer.email = email
                    changed.append("email")
                if (
                    phone
                    and not customer.phone
                    and not Customer.objects.filter(phone=phone).exists()
                ):
                    customer.phone = phone
                    changed.append("phone")
                if name and not customer.name:
                    customer.name = name
                    changed.append("name")
                if (
                    loyalty_id
                    and not customer.loyalty_id
                    and loyalty_id_free(loyalty_id, customer=customer)
                ):
                    customer.loyalty_id = loyalty_id
                    changed.append("loyalty_id")
                if changed:
                    customer.save(update_fields=[*changed, "updated_at"])
                return customer
        except IntegrityError:
            continue  # created concurrently by another checkout: find it again
    return customer_find(email=email, phone=phone)


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

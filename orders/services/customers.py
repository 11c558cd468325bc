"""One customer identity across channels."""

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction

from orders.models import Customer


def normalise_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


def normalise_phone(phone: str | None) -> str | None:
    """E.164, or None when empty; ValueError when it is not a valid number."""
    phone = (phone or "").strip()
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def customer_find(*, email: str | None = None, phone: str | None = None) -> Customer | None:
    email, phone = normalise_email(email), normalise_phone(phone)
    if email:
        found = Customer.objects.filter(email=email).first()
        if found:
            return found
    if phone:
        return Customer.objects.filter(phone=phone).first()
    return None


def _loyalty_id_free(loyalty_id: str, *, customer: Customer | None = None) -> bool:
    others = Customer.objects.filter(loyalty_id=loyalty_id)
    if customer is not None:
        others = others.exclude(pk=customer.pk)
    return not others.exists()


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
                    keep = loyalty_id if loyalty_id and _loyalty_id_free(loyalty_id) else ""
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
                    and _loyalty_id_free(loyalty_id, customer=customer)
                ):
                    customer.loyalty_id = loyalty_id
                    changed.append("loyalty_id")
                if changed:
                    customer.save(update_fields=[*changed, "updated_at"])
                return customer
        except IntegrityError:
            continue  # created concurrently by another checkout: find it again
    return customer_find(email=email, phone=phone)

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


def customer_get_or_create(
    *, email: str | None = None, phone: str | None = None, name: str = ""
) -> Customer:
    """The customer with this email (else phone); created when neither is known.

    A new email or phone is added to the found customer when nobody else holds it.
    """
    email, phone = normalise_email(email), normalise_phone(phone)
    for _attempt in range(2):
        customer = customer_find(email=email, phone=phone)
        try:
            with transaction.atomic():
                if customer is None:
                    return Customer.objects.create(email=email, phone=phone, name=name)
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
                if changed:
                    customer.save(update_fields=[*changed, "updated_at"])
                return customer
        except IntegrityError:
            continue  # created concurrently by another checkout: find it again
    return customer_find(email=email, phone=phone)

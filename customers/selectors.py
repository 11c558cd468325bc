"""Reads of customers: one identity found by normalised email, E.164 phone or loyalty id."""

from customers.models import Customer
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

"""The one way an email, a phone number or a member id is written before it is stored or
looked up."""

import re

import phonenumbers
from django.conf import settings


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


def normalise_member_id(member_id: str | None) -> str | None:
    """As printed, whatever was typed or scanned: upper case, no spaces or dashes."""
    member_id = re.sub(r"[\s-]", "", member_id or "").upper()
    return member_id or None

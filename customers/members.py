"""Member ids: issued on enrolment, printed on receipts and messages, typed or scanned at a
till. `M`, eight random digits and a Luhn check digit, so a mistyped digit is caught."""

import secrets


def _luhn_digit(digits: str) -> str:
    total = 0
    for n, char in enumerate(reversed(digits)):
        value = int(char) * (2 if n % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def member_id_new() -> str:
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"M{digits}{_luhn_digit(digits)}"

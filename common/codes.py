"""Short codes people read aloud or type at a till: order numbers, pickup and return codes."""

import secrets

# No 0/O and no 1/I, so a code read aloud or off a phone screen is never misread.
READABLE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def readable_code(length: int) -> str:
    """A random code of `length` characters of READABLE_ALPHABET, from the system's CSPRNG."""
    return "".join(secrets.choice(READABLE_ALPHABET) for _ in range(length))

"""Issuing, checking and revoking API tokens; only digests are stored."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.models import ApiToken

LIFETIME_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_lifetime_parse(text: str) -> timedelta:
    """`30d`, `12h` or `90m` as a duration; ValueError for anything else (or zero)."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhm])\s*", text.lower())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a lifetime like 30d, 12h or 90m.")
    return timedelta(**{LIFETIME_UNITS[match[2]]: int(match[1])})


@transaction.atomic
def token_issue(
    *, user: AbstractBaseUser, channel: str = "", expires_at: datetime | None = None
) -> str:
    """Create a token for `user` and return its key; the key is never stored or shown again.
    It works until revoked, or until `expires_at` when one is given."""
    key = secrets.token_hex(20)
    ApiToken.objects.create(
        user=user, digest=token_digest(key), prefix=key[:8], channel=channel, expires_at=expires_at
    )
    return key


class TokenRefusal(NamedTuple):
    code: str
    detail: str


def token_refusal(*, token: ApiToken, now: datetime) -> TokenRefusal | None:
    """Why a stored token no longer works (revoked, expired), or None while it does."""
    if token.revoked_at is not None:
        return TokenRefusal(
            "token_revoked", f"This token was revoked at {token.revoked_at.isoformat()}."
        )
    if token.expires_at is not None and token.expires_at <= now:
        return TokenRefusal(
            "token_expired", f"This token expired at {token.expires_at.isoformat()}."
        )
    return None


def channel_user_get_or_create(*, channel: str) -> AbstractBaseUser:
    """The service user that a sales channel's backend authenticates as."""
    user, _ = get_user_model().objects.get_or_create(
        username=f"channel-{channel}", defaults={"first_name": f"{channel} channel"}
    )
    return user


def token_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke the tokens not revoked yet; returns how many. A revoked token never works again."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

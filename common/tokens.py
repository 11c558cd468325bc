"""Issuing and checking API tokens; only digests are stored."""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.models import ApiToken


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_issue(*, user: AbstractBaseUser, channel: str = "") -> str:
    """Create a token for `user` and return its key; the key is never stored or shown again."""
    key = secrets.token_hex(20)
    ApiToken.objects.create(user=user, digest=token_digest(key), prefix=key[:8], channel=channel)
    return key


def channel_user_get_or_create(*, channel: str) -> AbstractBaseUser:
    """The service user that a sales channel's backend authenticates as."""
    user, _ = get_user_model().objects.get_or_create(
        username=f"channel-{channel}", defaults={"first_name": f"{channel} channel"}
    )
    return user


def token_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke the tokens not revoked yet; returns how many. A revoked token never works again."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

"""Idempotency-Key semantics (as Stripe's) for any service that creates something.

The view hands `idempotent` the caller's key, a service call and a renderer. The first
successful answer to a (client, key) is recorded in the service's own transaction, so it
exists exactly when what the service created does; a retry with the same body replays that
answer, one with another body is 422. A concurrent duplicate waits on the key's row until
the first commits, then replays it. A refusal (a domain error) records nothing, so the same
key may be retried once the obstacle is gone; if the refusal was caused by this request's
own duplicate committing in the meantime, its answer is the reply.

A service with one transaction needs nothing of this: `idempotent` runs it inside
`call.transaction()` and records what it returns. A service that must record earlier (the
checkout writes its answer before it locks stock rows, so they stay locked only until the
commit) is given the `IdempotentCall` and opens `call.transaction()` itself, calling
`call.record(result)` inside it.

Such a service may also claim the key only when it records (`transaction(claim_first=
False)`): the record is then written once, with its answer, and may go with the service's
own rows in one INSERT (`record(result, save=False)` returns the unsaved row). A concurrent
duplicate then does its writes too, but waits on the key's row at its own record (before
it locks any stock) until the first commits, fails on the key and replays the first answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from common.errors import DomainError
from common.models import IdempotencyRecord

T = TypeVar("T")

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 255


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_detail = "This Idempotency-Key was used with a different request body."


def request_fingerprint(data: Any) -> str:
    """The request body's digest: the same body in any key order has the same one."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyKey:
    """Who asks (an API client), the key they sent and their body's fingerprint."""

    actor: Any
    key: str
    fingerprint: str


def idempotency_key_of(request) -> IdempotencyKey:
    """The scope of an API request that creates something: its client, the key of its
    `Idempotency-Key` header and its body's fingerprint. A 400 naming the header when the key
    is missing, longer than KEY_MAX_LENGTH or not printable."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise ValidationError(
            {
                IDEMPOTENCY_HEADER: [
                    f"Required: a unique key of up to {KEY_MAX_LENGTH} printable characters."
                ]
            }
        )
    return IdempotencyKey(
        actor=request.user, key=key, fingerprint=request_fingerprint(request.data)
    )


@dataclass(frozen=True)
class IdempotentResult(Generic[T]):
    """The answer to give: the first one recorded, replayed or just made.

    `result` is what the service returned, None when replayed (nothing ran).
    """

    status: int
    body: Any
    replayed: bool = False
    result: T | None = None


class IdempotentCall(Generic[T]):
    """One first attempt under a key: claims the key, records the answer."""

    def __init__(
        self,
        key: IdempotencyKey,
        *,
        render: Callable[[T], Any],
        status: int,
        reference: Callable[[T], str] | None = None,
    ) -> None:
        self.key = key
        self.render = render
        self.response_status = status
        self.reference = reference
        self.body: Any = None
        self.recorded = False
        self._record: IdempotencyRecord | None = None

    @contextmanager
    def transaction(self, *, claim_first: bool = True) -> Iterator[None]:
        """The service's transaction, the key's row taken first: a concurrent duplicate
        blocks on it until this one commits (and then replays), or gets IntegrityError.
        `claim_first=False`: the row is written once, by `record()` (see the module)."""
        with transaction.atomic():
            self.recorded = False
            self._record = IdempotencyRecord(
                user=self.key.actor, key=self.key.key, request_hash=self.key.fingerprint
            )
            if claim_first:
                self._record.save(force_insert=True)
            yield
            if not self.recorded or self._record.pk is None:
                raise RuntimeError("an idempotent service must record its result")

    def record(self, result: T, *, save: bool = True) -> IdempotencyRecord:
        """Write the answer to `result`, inside `transaction()`; replays give it back.
        `save=False` (with `claim_first=False`): the row is returned for the caller to write
        in this transaction."""
        if self._record is None or not transaction.get_connection().in_atomic_block:
            raise RuntimeError("record() belongs inside IdempotentCall.transaction()")
        self.body = self.render(result)
        self._record.response_status = self.response_status
        self._record.response_body = self.body
        self._record.reference = self.reference(result) if self.reference else ""
        if self._record.pk is not None:
            self._record.save(update_fields=["response_status", "response_body", "reference"])
        elif save:
            self._record.save(force_insert=True)
        self.recorded = True
        return self._record


def idempotent_replay(*, key: IdempotencyKey) -> IdempotentResult | None:
    """The first answer under this (client, key), or None; IdempotencyKeyReused (422) when
    it was given to another body.

    Asked before the input is validated: the first answer stands even once what it named
    is gone, and a used key with another body is 422 whatever the body.
    """
    record = IdempotencyRecord.objects.filter(user=key.actor, key=key.key).first()
    if record is None:
        return None
    if record.request_hash != key.fingerprint:
        raise IdempotencyKeyReused(key=record.key)
    return IdempotentResult(record.response_status, record.response_body, replayed=True)


def idempotent(
    *,
    key: IdempotencyKey,
    service: Callable[[], T] | None = None,
    service_recording: Callable[[IdempotentCall[T]], T] | None = None,
    render: Callable[[T], Any],
    status: int = 201,
    reference: Callable[[T], str] | None = None,
    replay_checked: bool = False,
) -> IdempotentResult[T]:
    """Run the service once per (client, key); see the module's docstring.

    Give `service` (run in one transaction with the record), or `service_recording` (given
    the IdempotentCall, it opens `call.transaction()` and calls `call.record()` itself).
    `render` turns the service's result into the recorded body, `reference` into an opaque
    note of what was created. `replay_checked`: the caller has just asked
    `idempotent_replay` and found nothing.
    """
    if (service is None) == (service_recording is None):
        raise TypeError("give exactly one of service and service_recording")
    if not replay_checked:
        replayed = idempotent_replay(key=key)
        if replayed is not None:
            return replayed
    call: IdempotentCall[T] = IdempotentCall(key, render=render, status=status, reference=reference)
    try:
        if service is not None:
            with call.transaction():
                result = service()
                call.record(result)
        else:
            result = service_recording(call)
    except (IntegrityError, DomainError):
        # The key taken meanwhile, or a refusal caused by this request's own duplicate
        # committing since the key was checked: the duplicate's answer is the reply.
        replayed = idempotent_replay(key=key)
        if replayed is None:
            raise
        return replayed
    if not call.recorded:
        raise RuntimeError("an idempotent service must record its result")
    return IdempotentResult(call.response_status, call.body, result=result)


def idempotency_keys_purge() -> int:
    """Forget Idempotency-Keys older than OMS_IDEMPOTENCY_TTL_HOURS (never under a day);
    returns how many."""
    hours = max(24, settings.OMS_IDEMPOTENCY_TTL_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted

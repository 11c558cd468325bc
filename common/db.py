"""Deadlocks and serialization failures retried: PostgreSQL aborts one of two transactions
that wait on each other; running the whole transaction again usually succeeds."""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection
from psycopg import errors

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

CONFLICTS = (errors.DeadlockDetected, errors.SerializationFailure)


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, CONFLICTS) or isinstance(exc.__cause__, CONFLICTS)


def retry_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` (a service whose transaction it opens) again when PostgreSQL aborted it
    for a deadlock or a serialization failure, up to `DB_CONFLICT_ATTEMPTS` times with a
    jittered backoff; then the error goes on (the API answers 503 with Retry-After). Inside
    an outer transaction it only calls through: the outermost block is the one to rerun."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        attempts = max(1, settings.DB_CONFLICT_ATTEMPTS)
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not is_conflict(exc) or attempt == attempts:
                    raise
                pause = settings.DB_CONFLICT_BACKOFF * 2 ** (attempt - 1)
                logger.warning(
                    "%s aborted by the database (%s), attempt %d of %d; again in %.3fs",
                    func.__qualname__, type(exc.__cause__).__name__, attempt, attempts, pause,
                )  # fmt: skip
                time.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not secrets
        raise AssertionError("unreachable")

    return run

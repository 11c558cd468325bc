"""The transactional outbox.

`outbox_publish` writes an event row inside the caller's transaction and queues its
delivery only once that transaction commits, so a rollback sends nothing and a broker
outage loses nothing: `outbox_sweep` re-queues rows that were not processed in time.
Processing takes a row lock and marks the row in the same transaction as the handler's
own writes, so a duplicate delivery finds it processed and does nothing.

A handler that fails is rolled back with its writes; the failure is counted on the row in
a transaction of its own, and the sweeper waits twice as long after each failed attempt.
After `OUTBOX_MAX_ATTEMPTS` the row is left for a person (the admin lists it as failed).
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from common.models import OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
BatchHandler = Callable[[list[OutboxEvent]], None]
_handlers: dict[str, Handler] = {}
_batch_handlers: dict[str, BatchHandler] = {}

# How many waiting events of a topic one delivery takes at most, when it has a batch handler.
BATCH_SIZE = 100


def outbox_handler(topic: str) -> Callable[[Handler], Handler]:
    """Register the function that processes events of `topic` (one per topic)."""

    def register(func: Handler) -> Handler:
        _handlers[topic] = func
        return func

    return register


def outbox_batch_handler(topic: str) -> Callable[[BatchHandler], BatchHandler]:
    """Register a function that processes many events of `topic` in one transaction. A
    delivery of such an event takes the topic's other new events waiting with it (see
    `outbox_process_batch`); the topic's one-event handler still serves redeliveries."""

    def register(func: BatchHandler) -> BatchHandler:
        _batch_handlers[topic] = func
        return func

    return register


def _enqueue(event_id: int, topic: str = "") -> None:
    try:
        outbox_deliver.delay(event_id, topic)
    except Exception:  # the broker is down: the sweeper will re-queue the row
        logger.warning("outbox event %s could not be queued; the sweeper will retry", event_id)


def outbox_publish(topic: str, **payload: Any) -> OutboxEvent:
    """Record `topic` in the current transaction; deliver it after commit."""
    event = outbox_event(topic, **payload)
    event.save(force_insert=True)
    outbox_deliver_after_commit([event])
    return event


def outbox_event(topic: str, **payload: Any) -> OutboxEvent:
    """An unsaved event of `topic`, for a caller that writes it with its other rows (see
    common.bulk); once written, `outbox_deliver_after_commit` queues it."""
    return OutboxEvent(topic=topic, payload=payload, enqueued_at=timezone.now())


def outbox_deliver_after_commit(events: list[OutboxEvent]) -> None:
    """Queue written events once the current transaction commits."""
    for event in events:
        if event.pk is None:
            raise RuntimeError("an outbox event is queued only once it is written")
        transaction.on_commit(partial(_enqueue, event.pk, event.topic))


@contextmanager
def _working_on(event_id: int) -> Iterator[bool]:
    """True when no other process works on the event now. A PostgreSQL session lock on the
    event's id: released at the end, or by the server when a killed worker's connection
    goes. (The embedded default runs every task in its one process: nothing to exclude.)"""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [event_id])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [event_id])


def outbox_process(*, event_id: int) -> bool:
    """Run the handler of one event exactly once. Returns False when there was nothing to do.

    The attempt is counted first, in a transaction of its own, so one that never ends (its
    worker killed, a handler that takes the worker down) still counts: the sweeper backs
    off from it and in the end leaves it for a person, instead of redelivering it for ever.
    A delivery of an event that another worker is working on counts nothing.
    """
    with _working_on(event_id) as mine:
        if not mine:
            return False  # a duplicate delivery, while the first one runs
        # One UPDATE, committed on its own (autocommit): counted whatever happens next.
        claimed = OutboxEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
            attempts=F("attempts") + 1, enqueued_at=timezone.now()
        )
        if not claimed:
            return False  # already processed
        with transaction.atomic():
            event = (
                OutboxEvent.objects.select_for_update()
                .filter(pk=event_id, processed_at__isnull=True)
                .first()
            )
            if event is None:  # processed meanwhile (by a worker that held no session lock)
                return False
            handler = _handlers.get(event.topic)
            if handler is not None:
                handler(event)
            else:
                logger.info("outbox event %s has no handler for topic %s", event.pk, event.topic)
            event.processed_at = timezone.now()
            event.last_error = ""
            event.save(update_fields=["processed_at", "last_error"])
    return True


_TABLE = OutboxEvent._meta.db_table
# The new events of a topic waiting with one of them (that one first, then oldest first),
# each taken only if no other session works on it now (the session lock of _working_on).
_TAKE_WAITING = f"""
    SELECT id FROM (
        SELECT id FROM {_TABLE}
        WHERE processed_at IS NULL AND topic = %s AND (id = %s OR attempts = 0)
        ORDER BY id <> %s, id LIMIT %s
    ) AS waiting
    WHERE pg_try_advisory_lock(id)
"""  # noqa: S608 - the table name; every value is a parameter
_COUNT_ATTEMPT = f"""
    UPDATE {_TABLE} SET attempts = attempts + 1, enqueued_at = %s
    WHERE id = ANY(%s) AND processed_at IS NULL RETURNING id
"""  # noqa: S608 - the table name; every value is a parameter


_UNLOCK = "SELECT pg_advisory_unlock(id) FROM unnest(%s::bigint[]) AS id"


@contextmanager
def _working_on_waiting(topic: str, event_id: int, limit: int) -> Iterator[list[int]]:
    """`_working_on` for a batch: the ids of `event_id` and of the new events of `topic`
    waiting with it that no other process works on now, each under its session lock."""
    if connection.vendor != "postgresql":
        yield list(
            OutboxEvent.objects.filter(Q(pk=event_id) | Q(attempts=0), topic=topic)
            .filter(processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_WAITING, [topic, event_id, event_id, limit])
        mine = [row[0] for row in cursor.fetchall()]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute(_UNLOCK, [mine])


def outbox_process_batch(*, topic: str, event_id: int, limit: int = BATCH_SIZE) -> int:
    """Process `event_id` and the new events of `topic` waiting with it (up to `limit`) in
    one transaction, by the topic's batch handler; returns how many were processed.

    As `outbox_process`: every attempt is counted first, in a statement of its own, and an
    event another worker works on is left to it. Should the batch fail, each of its events
    is processed on its own at once, so one bad event holds up none of the others.
    """
    handler = _batch_handlers[topic]
    with _working_on_waiting(topic, event_id, limit) as mine:
        if not mine:
            return 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_COUNT_ATTEMPT, [timezone.now(), mine])
                claimed = [row[0] for row in cursor.fetchall()]
        else:
            claimed = list(
                OutboxEvent.objects.filter(pk__in=mine, processed_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            OutboxEvent.objects.filter(pk__in=claimed).update(
                attempts=F("attempts") + 1, enqueued_at=timezone.now()
            )
        if not claimed:
            return 0
        try:
            with transaction.atomic():
                events = list(
                    OutboxEvent.objects.select_for_update()
                    .filter(pk__in=claimed, processed_at__isnull=True)
                    .order_by("pk")
                )
                if events:
                    handler(events)
                    OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(
                        processed_at=timezone.now(), last_error=""
                    )
        except Exception:
            logger.warning("a batch of %d %s events failed; one by one now", len(claimed), topic)
            return _one_by_one(claimed, first=event_id)
    if len(events) > 1:
        logger.info("outbox processed %d %s events in one batch", len(events), topic)
    return len(events)


def _one_by_one(event_ids: list[int], *, first: int) -> int:
    """After a failed batch: each event on its own; the first one's failure is raised (its
    delivery retries it), the others' are counted on them for the sweeper."""
    done, failure = 0, None
    for event_id in event_ids:
        try:
            done += outbox_process(event_id=event_id)
        except Exception as exc:
            if event_id == first:
                failure = exc
            else:
                outbox_record_failure(event_id=event_id, error=repr(exc))
                logger.exception("outbox event %s failed", event_id)
    if failure is not None:
        raise failure
    return done


def outbox_record_failure(*, event_id: int, error: str) -> None:
    """Keep why an attempt failed; the sweeper's next try waits from now, twice as long
    after each attempt."""
    OutboxEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
        last_error=error[:2000], enqueued_at=timezone.now()
    )
    event = OutboxEvent.objects.filter(pk=event_id).values("topic", "attempts").first()
    if event and event["attempts"] >= settings.OUTBOX_MAX_ATTEMPTS:
        logger.error(
            "outbox event %s (%s) failed %d times; it is left for a person to look at",
            event_id,
            event["topic"],
            event["attempts"],
        )


def outbox_requeue(*, event_ids: list[int]) -> int:
    """Queue unprocessed events again now, whatever their attempts (a person retrying)."""
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=event_ids, processed_at__isnull=True)
            .values_list("pk", flat=True)
        )
        OutboxEvent.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
        for event_id in ids:
            transaction.on_commit(partial(_enqueue, event_id))
    return len(ids)


def _due(older_than: timedelta) -> Q:
    """Unprocessed, not given up on, and last queued long enough ago for its attempts."""
    now = timezone.now()
    due = Q()
    for failures in range(settings.OUTBOX_MAX_ATTEMPTS):
        wait = older_than * 2 ** min(failures, 6)
        due |= Q(attempts=failures, enqueued_at__lt=now - wait)
    return Q(processed_at__isnull=True) & due


def outbox_sweep(*, older_than: timedelta | None = None, batch_size: int = 500) -> int:
    """Re-queue unprocessed events last queued longer ago than `older_than` (doubled for
    every failed attempt); events that failed `OUTBOX_MAX_ATTEMPTS` times are left alone."""
    if older_than is None:  # timedelta(0) is falsy but means "everything unprocessed"
        older_than = settings.OUTBOX_REDELIVER_AFTER
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(_due(older_than))
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        OutboxEvent.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
        for event_id in ids:
            transaction.on_commit(partial(_enqueue, event_id))
    if ids:
        logger.info("outbox sweep re-queued %d events", len(ids))
    return len(ids)


# --- the Celery tasks (common/tasks.py hands them to Celery's autodiscovery) ---------------


@shared_task(bind=True, max_retries=3, name="common.tasks.outbox_deliver")
def outbox_deliver(self, event_id: int, topic: str = "") -> bool:
    """Process one outbox event (with the new ones of its topic waiting with it, when the
    topic has a batch handler). A failure (a mail server down, a deadlock) is counted on
    the event and retried by a worker with backoff; the sweeper takes over after that."""
    try:
        if topic in _batch_handlers and not self.request.retries:
            return outbox_process_batch(topic=topic, event_id=event_id) > 0
        return outbox_process(event_id=event_id)
    except Exception as exc:
        outbox_record_failure(event_id=event_id, error=repr(exc))
        logger.exception("outbox event %s failed", event_id)
        if self.request.is_eager:
            # In process (the embedded default, tests) a retry would run at once, inside
            # the request that caused the event: leave it to the sweeper instead.
            return False
        raise self.retry(exc=exc, countdown=min(300, 5 * 4**self.request.retries)) from exc


@shared_task(name="common.tasks.outbox_sweep")
def outbox_sweep_task() -> int:
    return outbox_sweep()

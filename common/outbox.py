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
_handlers: dict[str, Handler] = {}


def outbox_handler(topic: str) -> Callable[[Handler], Handler]:
    """Register the function that processes events of `topic` (one per topic)."""

    def register(func: Handler) -> Handler:
        _handlers[topic] = func
        return func

    return register


def _enqueue(event_id: int) -> None:
    try:
        outbox_deliver.delay(event_id)
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
        transaction.on_commit(partial(_enqueue, event.pk))


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
        with transaction.atomic():
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
def outbox_deliver(self, event_id: int) -> bool:
    """Process one outbox event. A failure (a mail server down, a deadlock) is counted on
    the event and retried by a worker with backoff; the sweeper takes over after that."""
    try:
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

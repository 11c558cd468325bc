"""The transactional outbox.

`outbox_publish` writes an event row inside the caller's transaction and queues its
delivery only once that transaction commits, so a rollback sends nothing and a broker
outage loses nothing: `outbox_sweep` re-queues rows that were not processed in time.
Processing first counts an attempt on the row in a statement of its own (skipping a row
another transaction holds: a duplicate delivery of an event being worked on counts nothing),
then claims it (`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE)`) in the transaction that
runs the handler, marking it processed in that same statement, so the mark commits with the
handler's own writes or is rolled back with them: a duplicate delivery finds it processed
and does nothing. No lock or state outlives a transaction, so the outbox is correct behind
a transaction pooler (PgBouncer's `pool_mode = transaction`) as well as on a direct
connection.

Events written together (an order's release and its pending points) reach a worker in one
delivery per queue, which processes each of them as a delivery of its own would: a change
costs a worker one task per queue it touches, not one per event.

A handler that fails is rolled back with its writes; the failure is counted on the row in
a transaction of its own, and the sweeper waits twice as long after each failed attempt.
After `OUTBOX_MAX_ATTEMPTS` the row is left for a person (the admin lists it as failed).
"""

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from functools import cache, partial
from typing import Any

import redis
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

# How many waiting events of a topic one delivery takes at a time.
BATCH_SIZE = 100
# A topic without a batch handler runs its events one by one: fewer at a time (emails, say).
ONE_BY_ONE_SIZE = 20
# How long one delivery goes on taking waiting events before it queues another for the rest.
WAITING_SECONDS = 60
# Seconds a publish waits on the broker's Redis to learn whether a delivery is queued.
QUEUED_TIMEOUT = 2


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


def _queued_flags() -> redis.Redis | None:
    """Where a delivery of a topic marks itself queued and not started: the broker's Redis,
    when deliveries go through one (not in process, where each runs at once)."""
    conf = outbox_deliver.app.conf
    if conf.task_always_eager or not str(conf.broker_url).startswith(("redis://", "rediss://")):
        return None
    return _redis(conf.broker_url)


@cache
def _redis(url: str) -> redis.Redis:
    """One client (and its connection pool) per process and URL."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=QUEUED_TIMEOUT, socket_timeout=QUEUED_TIMEOUT
    )


def _queued_key(topic: str) -> str:
    return f"omnistock:outbox:queued:{outbox_deliver.app.conf.task_default_queue}:{topic}"


def _enqueue(event_id: int, topic: str = "", *, more: Sequence[tuple[int, str]] = ()) -> None:
    """Queue the delivery of an event (with `more`, of several events bound for the same
    queue, in one delivery that processes each in turn); with its topic, only when no
    delivery of that topic is queued and not started yet, since that one, once it starts,
    takes this event too."""
    deliveries = [(event_id, topic), *more]
    flags = _queued_flags() if any(topic for _, topic in deliveries) else None
    keys = [_queued_key(topic) if flags is not None and topic else "" for _, topic in deliveries]
    set_now: list[str] = []
    try:
        if flags is not None:
            pipe = flags.pipeline(transaction=False)  # one round trip for every flag
            for key, (event, _topic) in zip(keys, deliveries, strict=True):
                if key:
                    pipe.set(key, event, nx=True, ex=settings.OUTBOX_REDELIVER_AFTER)
            answers = iter(pipe.execute())
            # A topic whose flag was set already has a delivery waiting that takes the event.
            free = [not key or next(answers) for key in keys]
            set_now = [key for key, ok in zip(keys, free, strict=True) if key and ok]
        else:
            free = [True] * len(deliveries)
        queued = [
            [event, topic, key]
            for (event, topic), key, ok in zip(deliveries, keys, free, strict=True)
            if ok
        ]
        if not queued:
            return
        (first, first_topic, first_flag), *rest = queued
        kwargs = {"flag": first_flag, "more": rest} if rest else {"flag": first_flag}
        # A delivery that set a flag starts after a moment (OUTBOX_BATCH_LINGER): what its
        # topics publish meanwhile waits for it, and it takes all of it in one batch.
        linger = settings.OUTBOX_BATCH_LINGER if set_now else 0
        outbox_deliver.apply_async((first, first_topic), kwargs, countdown=linger or None)
    except Exception:  # the broker is down: the sweeper will re-queue the rows
        logger.warning(
            "outbox events %s could not be queued; the sweeper will retry",
            ", ".join(str(event) for event, _ in deliveries),
        )
        if set_now:
            with suppress(Exception):  # so the next event of each topic tries again
                flags.delete(*set_now)


def _queued_clear(*flags: str) -> None:
    """The delivery that set `flags` starts: events published from now on queue their own.
    (The flags travel with the delivery, so whichever queue a worker takes it from, the
    worker clears what the publisher set.)"""
    flags = tuple(flag for flag in flags if flag)
    client = _queued_flags() if flags else None
    if client is not None:
        with suppress(redis.RedisError):  # the flags expire on their own
            client.delete(*flags)


def _queue_of(topic: str) -> str:
    """The queue the delivery of an event of `topic` goes to (CELERY_TASK_ROUTES)."""
    route = outbox_deliver.app.amqp.router.route({}, outbox_deliver.name, args=(0, topic))
    return route["queue"].name


def _enqueue_together(deliveries: list[tuple[int, str]]) -> None:
    """Queue the deliveries of (event id, topic) `deliveries`: those bound for one queue in
    one delivery, so a change that publishes several events costs a worker one task per
    queue, not one per event."""
    by_queue: dict[str, list[tuple[int, str]]] = {}
    try:
        for event_id, topic in deliveries:
            by_queue.setdefault(_queue_of(topic), []).append((event_id, topic))
    except Exception:  # after the commit nothing may fail the change: each on its own
        logger.exception("outbox events could not be grouped by queue")
        by_queue = {str(n): [delivery] for n, delivery in enumerate(deliveries)}
    for (event_id, topic), *more in by_queue.values():
        _enqueue(event_id, topic, more=more)


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
    """Queue written events once the current transaction commits: those bound for the same
    queue in one delivery."""
    if any(event.pk is None for event in events):
        raise RuntimeError("an outbox event is queued only once it is written")
    if len(events) == 1:
        transaction.on_commit(partial(_enqueue, events[0].pk, events[0].topic))
    elif events:
        transaction.on_commit(
            partial(_enqueue_together, [(event.pk, event.topic) for event in events])
        )


_TABLE = OutboxEvent._meta.db_table
# An attempt counted on each unprocessed event asked for, in a statement of its own, except on
# those a transaction works on now (their rows locked): a duplicate delivery of an event being
# processed counts nothing. Returns the ids counted.
_COUNT_ATTEMPT = f"""
    UPDATE {_TABLE} SET attempts = attempts + 1, enqueued_at = %s
    WHERE id IN (
        SELECT id FROM {_TABLE} WHERE id = ANY(%s) AND processed_at IS NULL
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
"""  # noqa: S608 - the table name; every value is a parameter
# The same for an event and the new events of its topic waiting with it (that one first,
# then oldest first).
_COUNT_ATTEMPT_WAITING = f"""
    UPDATE {_TABLE} SET attempts = attempts + 1, enqueued_at = %s
    WHERE id IN (
        SELECT id FROM {_TABLE}
        WHERE processed_at IS NULL AND topic = %s AND (id = %s OR attempts = 0)
        ORDER BY id <> %s, id LIMIT %s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
"""  # noqa: S608 - the table name; every value is a parameter


def _count_attempt(*, event_ids: list[int], topic: str = "", limit: int = 0) -> list[int]:
    """Count an attempt on `event_ids` (with `topic` and `limit`: on the first of them and
    the new events of `topic` waiting with it) that are unprocessed and that no transaction
    works on now; committed at once (autocommit). Returns the ids counted."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if topic:
                first = event_ids[0]
                cursor.execute(_COUNT_ATTEMPT_WAITING, [now, topic, first, first, limit])
            else:
                cursor.execute(_COUNT_ATTEMPT, [now, event_ids])
            return sorted(row[0] for row in cursor.fetchall())
    # The embedded default runs every task in its one process: nothing to exclude.
    unprocessed = OutboxEvent.objects.filter(processed_at__isnull=True)
    if topic:
        unprocessed = unprocessed.filter(Q(pk=event_ids[0]) | Q(attempts=0), topic=topic)
        ids = list(unprocessed.order_by("pk").values_list("pk", flat=True)[:limit])
    else:
        ids = list(unprocessed.filter(pk__in=event_ids).values_list("pk", flat=True))
    OutboxEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, enqueued_at=now)
    return sorted(ids)


# The rows of the events asked for that are unprocessed, locked and marked processed in one
# statement: the mark is the transaction's, so a rollback (the handler failed) takes it back
# with the lock. It waits for a row another transaction holds rather than skip it: the attempt
# on it is counted already, so a row skipped here would wait for the sweeper. Whoever holds
# it is brief (another delivery's count, which may lock a row it then leaves out) or works
# on the event itself, whose mark the wait then sees.
_CLAIM = f"""
    UPDATE {_TABLE} SET processed_at = %s, last_error = ''
    WHERE id IN (
        SELECT id FROM {_TABLE} WHERE id = ANY(%s) AND processed_at IS NULL
        ORDER BY id FOR UPDATE
    )
    RETURNING {", ".join(f'"{field.column}"' for field in OutboxEvent._meta.concrete_fields)}
"""  # noqa: S608 - the table and column names; every value is a parameter


def _claim(event_ids: list[int]) -> list[OutboxEvent]:
    """Inside the transaction that does the work: lock the rows of `event_ids` still
    unprocessed (their attempts counted), in id order, and mark them processed. The lock
    lasts until the commit that keeps the mark (or the rollback that takes it back and leaves
    them to a retry), on whatever server connection runs this transaction: nothing outlives
    it behind a transaction pooler."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        claimed = OutboxEvent.objects.raw(_CLAIM, [now, event_ids])
        return sorted(claimed, key=lambda event: event.pk)
    claimed = list(
        OutboxEvent.objects.select_for_update()
        .filter(pk__in=event_ids, processed_at__isnull=True)
        .order_by("pk")
    )
    OutboxEvent.objects.filter(pk__in=[e.pk for e in claimed]).update(
        processed_at=now, last_error=""
    )
    for event in claimed:
        event.processed_at, event.last_error = now, ""
    return claimed


def outbox_process(*, event_id: int) -> bool:
    """Run the handler of one event exactly once. Returns False when there was nothing to do.

    The attempt is counted first, in a transaction of its own, so one that never ends (its
    worker killed, a handler that takes the worker down) still counts: the sweeper backs
    off from it and in the end leaves it for a person, instead of redelivering it for ever.
    A delivery of an event that another worker is working on counts nothing.
    """
    if not _count_attempt(event_ids=[event_id]):
        return False  # already processed, or a duplicate delivery while the first one runs
    return _run(event_id)


def _run(event_id: int) -> bool:
    """`outbox_process` of an event whose attempt is counted already."""
    with transaction.atomic():
        claimed = _claim([event_id])
        if not claimed:  # processed meanwhile, or taken by a delivery counted at that moment
            return False
        [event] = claimed
        handler = _handlers.get(event.topic)
        if handler is not None:
            handler(event)
        else:
            logger.info("outbox event %s has no handler for topic %s", event.pk, event.topic)
    return True


def outbox_process_batch(*, topic: str, event_id: int, limit: int = BATCH_SIZE) -> int:
    """Process `event_id` and the new events of `topic` waiting with it (up to `limit`) in
    one transaction, by the topic's batch handler; returns how many were processed.

    As `outbox_process`: every attempt is counted first, in a statement of its own, and an
    event another worker works on is left to it. Should the batch fail, each of its events
    is processed on its own at once (the same attempt), so one bad event holds up none of
    the others.
    """
    return _process_waiting(topic=topic, event_id=event_id, limit=limit)[1]


def _process_waiting(*, topic: str, event_id: int, limit: int) -> tuple[int, int]:
    """`event_id` and up to `limit` new events of `topic` waiting with it: in one batch when
    the topic has a batch handler, else each on its own. Returns (taken, processed)."""
    handler = _batch_handlers.get(topic)
    if handler is None:
        waiting = list(
            OutboxEvent.objects.filter(Q(pk=event_id) | Q(attempts=0), topic=topic)
            .filter(processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        return len(waiting), _one_by_one(waiting, first=event_id)
    counted = _count_attempt(event_ids=[event_id], topic=topic, limit=limit)
    if not counted:
        return 0, 0
    try:
        with transaction.atomic():
            events = _claim(counted)
            if events:
                handler(events)
    except Exception:
        if counted == [event_id]:
            raise  # the delivered event alone: its delivery records the failure
        logger.warning("a batch of %d %s events failed; one by one now", len(counted), topic)
        return len(counted), _one_by_one(counted, first=event_id, counted=True)
    if len(events) > 1:
        logger.info("outbox processed %d %s events in one batch", len(events), topic)
    return len(counted), len(events)


def outbox_process_waiting(
    *, topic: str, event_id: int, limit: int = BATCH_SIZE, seconds: float = WAITING_SECONDS
) -> int:
    """`event_id` and the new events of `topic` waiting with it, `limit` at a time (fewer
    for a topic without a batch handler, whose events run one by one) while as many wait (a
    backlog); after `seconds` a delivery is queued for the rest, so one delivery stays well
    inside the task time limit. Returns how many were processed."""
    if topic not in _batch_handlers:
        limit = min(limit, ONE_BY_ONE_SIZE)
    done, until = 0, time.monotonic() + seconds
    while True:
        taken, processed = _process_waiting(topic=topic, event_id=event_id, limit=limit)
        done += processed
        if taken < limit:
            return done
        event_id = 0  # the first is done with (or its failure raised): only the new ones now
        if time.monotonic() > until:
            _enqueue(event_id, topic)
            return done


def _one_by_one(event_ids: list[int], *, first: int, counted: bool = False) -> int:
    """Each event on its own (the events of a topic without a batch handler, or those of a
    failed batch, whose attempt that batch `counted`); the first one's failure is raised
    (its delivery retries it), the others' are kept on them for the sweeper."""
    done, failure = 0, None
    for event_id in event_ids:
        try:
            done += _run(event_id) if counted else outbox_process(event_id=event_id)
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
def outbox_deliver(
    self, event_id: int, topic: str = "", flag: str = "", more: Sequence[Sequence] = ()
) -> bool:
    """Process one outbox event, with the new ones of its topic waiting with it (whose
    publishers queued no delivery of their own while this one waited to start); then each
    of `more` ([event id, topic, flag] of other events bound for this queue, published
    together) the same way. A failure (a mail server down, a deadlock) is counted on its
    event and retried by a worker with backoff, for the events that failed only; the
    sweeper takes over after that."""
    deliveries = [(event_id, topic, flag), *(tuple(delivery) for delivery in more)]
    retry = bool(self.request.retries)
    if not retry:
        _queued_clear(*(flag for _, _, flag in deliveries))
    done, failed = False, []
    # With other topics after it, a topic takes one batch and leaves the rest of its backlog
    # to a delivery of its own, so the others do not wait behind it.
    seconds = WAITING_SECONDS if len(deliveries) == 1 else 0
    for event_id, topic, _flag in deliveries:
        try:
            if topic and not retry:
                done |= outbox_process_waiting(topic=topic, event_id=event_id, seconds=seconds) > 0
            else:
                done |= outbox_process(event_id=event_id)
        except Exception as exc:  # the others still run; this one is retried
            outbox_record_failure(event_id=event_id, error=repr(exc))
            logger.exception("outbox event %s failed", event_id)
            failed.append((event_id, topic, exc))
    if not failed:
        return done
    if self.request.is_eager:
        # In process (the embedded default, tests) a retry would run at once, inside
        # the request that caused the event: leave it to the sweeper instead.
        return False
    (event_id, topic, exc), *rest = failed
    raise self.retry(
        args=(event_id, topic),
        kwargs={"more": [[event, event_topic, ""] for event, event_topic, _ in rest]},
        exc=exc,
        countdown=min(300, 5 * 4**self.request.retries),
    ) from exc


@shared_task(name="common.tasks.outbox_sweep")
def outbox_sweep_task() -> int:
    return outbox_sweep()

import base64
import json
import threading
import uuid
from datetime import datetime, timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from common import outbox
from common.models import OutboxEvent
from common.outbox import outbox_process, outbox_publish, outbox_requeue, outbox_sweep
from common.tasks import outbox_deliver
from config.celery import app as celery_app
from config.celery import queue_names
from tests.common.worker_handlers import (
    BATCH_TOPIC,
    FLAKY_TOPIC,
    TOPIC,
    batches_key,
    broken_key,
    runs_key,
)
from tests.conftest import database_url_for_processes, wait_until


def _runs(redis_client, key: str) -> int:
    return redis_client.llen(runs_key(key))


@pytest.mark.django_db(transaction=True)
def test_event_of_rolled_back_transaction_is_never_sent(redis_client):
    key = uuid.uuid4().hex

    def change_that_fails():
        with transaction.atomic():
            outbox_publish(TOPIC, key=key)
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert not OutboxEvent.objects.filter(payload__key=key).exists()
    assert _runs(redis_client, key) == 0


@pytest.mark.django_db(transaction=True)
def test_committed_event_is_processed_in_process_after_commit(redis_client):
    key = uuid.uuid4().hex

    with transaction.atomic():
        event = outbox_publish(TOPIC, key=key)
        assert _runs(redis_client, key) == 0  # nothing runs before the commit

    event.refresh_from_db()
    assert event.processed_at is not None
    assert _runs(redis_client, key) == 1


@pytest.mark.django_db(transaction=True)
def test_processing_twice_runs_the_handler_once(redis_client):
    key = uuid.uuid4().hex
    event = outbox_publish(TOPIC, key=key)

    assert outbox_process(event_id=event.pk) is False  # already processed after commit
    outbox_deliver.apply(args=[event.pk])

    assert _runs(redis_client, key) == 1


@pytest.mark.worker
def test_real_worker_processes_committed_event_exactly_once(celery_worker_process, redis_client):
    key = uuid.uuid4().hex

    with transaction.atomic():
        event = outbox_publish(TOPIC, key=key)
    outbox_deliver.delay(event.pk)  # a duplicate delivery, as after a redelivery

    wait_until(lambda: OutboxEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists())
    wait_until(lambda: _runs(redis_client, key) >= 1)
    outbox_deliver.delay(event.pk)
    redis_client.blpop(["never-written-just-a-pause"], timeout=1)
    assert _runs(redis_client, key) == 1
    # The late duplicate counts nothing. The one sent at once may race the first delivery
    # between its count and its claim and count one attempt more, never a second run.
    assert OutboxEvent.objects.get(pk=event.pk).attempts in (1, 2)


def _worker_backends() -> set[int]:
    """The server processes of every other session on the test database: the worker's."""
    with psycopg.connect(database_url_for_processes()) as probe:
        rows = probe.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    own = connection.cursor().connection.info.backend_pid
    return {pid for (pid,) in rows if pid != own}


def _processed_in_time(event: OutboxEvent, seconds: float = 10) -> None:
    """Processed by the delivery itself: well before the sweeper would queue it again."""
    wait_until(
        lambda: OutboxEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists(),
        timeout=seconds,
    )


@pytest.mark.worker
def test_a_worker_keeps_its_connection_and_replaces_one_the_server_ended(
    celery_worker_process, redis_client
):
    keys = [uuid.uuid4().hex for _ in range(10)]
    seen: set[int] = set()
    for key in keys[:6]:
        _processed_in_time(outbox_publish(TOPIC, key=key))
        seen |= _worker_backends()
    assert 1 <= len(seen) <= 2  # one session per pool process (-c 2), not one per task

    ended = _worker_backends()
    with psycopg.connect(database_url_for_processes(), autocommit=True) as admin:
        for pid in ended:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    late = []
    for key in keys[6:]:  # one at a time: none is taken along by a later delivery
        late.append(outbox_publish(TOPIC, key=key))
        _processed_in_time(late[-1])

    assert [_runs(redis_client, key) for key in keys] == [1] * 10
    assert {e.attempts for e in OutboxEvent.objects.filter(pk__in=[e.pk for e in late])} == {1}


@pytest.mark.worker
def test_sweeper_requeues_a_lost_event_and_it_is_processed_once(
    celery_worker_process, redis_client
):
    key = uuid.uuid4().hex
    # Written, but its message never reached the broker (a crash right after commit).
    event = OutboxEvent.objects.create(
        topic=TOPIC, payload={"key": key}, enqueued_at=timezone.now() - timedelta(minutes=5)
    )

    assert outbox_sweep() == 1
    wait_until(lambda: OutboxEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists())
    assert outbox_sweep(older_than=timedelta(0)) == 0
    assert _runs(redis_client, key) == 1


@pytest.mark.django_db
def test_sweeper_leaves_recent_events_alone():
    OutboxEvent.objects.create(topic=TOPIC, payload={"key": "x"}, enqueued_at=timezone.now())

    assert outbox_sweep(older_than=timedelta(minutes=1)) == 0


@pytest.fixture
def broken(redis_client):
    """A downstream service that is down until the test mends it."""
    key = uuid.uuid4().hex
    redis_client.set(broken_key(key), 1)
    yield key
    redis_client.delete(broken_key(key))


@pytest.mark.django_db(transaction=True)
def test_failing_handler_is_counted_and_never_breaks_the_change_that_caused_it(
    redis_client, broken
):
    with transaction.atomic():
        event = outbox_publish(FLAKY_TOPIC, key=broken)
        # The business change commits; its event then fails in process, after the commit.

    event.refresh_from_db()
    assert event.processed_at is None
    assert event.attempts == 1
    assert "downstream service is down" in event.last_error
    assert _runs(redis_client, broken) == 0


@pytest.mark.django_db(transaction=True)
def test_sweeper_retries_a_failed_event_once_it_can_succeed(redis_client, broken):
    event = outbox_publish(FLAKY_TOPIC, key=broken)
    redis_client.delete(broken_key(broken))  # the service is back

    assert outbox_sweep(older_than=timedelta(0)) == 1

    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.attempts == 2  # one failure, one success
    assert event.last_error == ""
    assert _runs(redis_client, broken) == 1


@pytest.mark.django_db
def test_sweeper_waits_twice_as_long_after_each_failure(settings):
    settings.OUTBOX_REDELIVER_AFTER = timedelta(minutes=1)
    now = timezone.now()

    def failed(times: int, minutes_ago: int) -> OutboxEvent:
        return OutboxEvent.objects.create(
            topic=TOPIC,
            payload={"key": uuid.uuid4().hex},
            attempts=times,
            enqueued_at=now - timedelta(minutes=minutes_ago),
        )

    due = [failed(0, 2), failed(1, 3), failed(3, 9)]
    waiting = [failed(1, 1), failed(3, 7)]

    assert outbox_sweep() == len(due)

    requeued = set(OutboxEvent.objects.filter(enqueued_at__gte=now).values_list("pk", flat=True))
    assert requeued == {e.pk for e in due}
    assert not requeued & {e.pk for e in waiting}


@pytest.mark.django_db(transaction=True)
def test_event_that_failed_too_often_is_left_for_a_person_who_can_queue_it_again(
    settings, redis_client
):
    key = uuid.uuid4().hex
    event = OutboxEvent.objects.create(
        topic=TOPIC,
        payload={"key": key},
        attempts=settings.OUTBOX_MAX_ATTEMPTS,
        enqueued_at=timezone.now() - timedelta(days=1),
    )

    assert outbox_sweep(older_than=timedelta(0)) == 0
    assert outbox_requeue(event_ids=[event.pk]) == 1

    event.refresh_from_db()
    assert event.processed_at is not None
    assert _runs(redis_client, key) == 1


@pytest.mark.django_db(transaction=True)
def test_a_delivery_while_another_worker_works_on_the_event_counts_nothing(redis_client):
    key = uuid.uuid4().hex
    event = OutboxEvent.objects.create(
        topic=TOPIC, payload={"key": key}, enqueued_at=timezone.now()
    )
    working = psycopg.connect(database_url_for_processes())  # a transaction, as a worker's
    working.execute("SELECT id FROM common_outboxevent WHERE id = %s FOR UPDATE", [event.pk])
    try:
        assert outbox_process(event_id=event.pk) is False
    finally:
        working.close()  # the worker is gone: its transaction rolled back, the row free

    event.refresh_from_db()
    assert (event.attempts, event.processed_at) == (0, None)
    assert outbox_process(event_id=event.pk) is True
    event.refresh_from_db()
    assert event.attempts == 1
    assert _runs(redis_client, key) == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_counted_then_held_a_moment_by_another_transaction_is_still_processed(
    redis_client,
):
    """Another delivery's count may lock a row it then leaves out (its attempt is counted
    already): the claim waits for that moment instead of leaving the event to the sweeper."""
    key = uuid.uuid4().hex
    event = OutboxEvent.objects.create(
        topic=TOPIC, payload={"key": key}, enqueued_at=timezone.now()
    )
    assert outbox._count_attempt(event_ids=[event.pk]) == [event.pk]
    other = psycopg.connect(database_url_for_processes())
    other.execute("SELECT id FROM common_outboxevent WHERE id = %s FOR UPDATE", [event.pk])
    threading.Timer(0.5, other.commit).start()  # its statement ends; it locked nothing else
    try:
        assert outbox._run(event.pk) is True
    finally:
        other.close()

    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.attempts == 1
    assert _runs(redis_client, key) == 1


@pytest.fixture
def queue_without_worker(redis_client):
    """Deliveries go to a queue of Redis that no worker consumes; yields its name."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "task_default_queue": celery_app.conf.task_default_queue,
    }
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        yield queue
    finally:
        celery_app.conf.update(**previous)
        redis_client.delete(queue, outbox._queued_key(TOPIC))


@pytest.mark.django_db(transaction=True)
def test_a_publish_while_a_delivery_of_its_topic_waits_queues_none_and_that_one_takes_it(
    redis_client, queue_without_worker
):
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    waiting = outbox_publish(TOPIC, key=first)
    outbox_publish(TOPIC, key=second)

    assert redis_client.llen(queue_without_worker) == 1  # the second found the first queued

    flag = outbox._queued_key(TOPIC)  # what the queued delivery carries
    assert outbox_deliver.apply(args=[waiting.pk, TOPIC, flag]).result is True  # it starts
    assert (_runs(redis_client, first), _runs(redis_client, second)) == (1, 1)
    outbox_publish(TOPIC, key=uuid.uuid4().hex)  # after it started: a delivery of its own
    assert redis_client.llen(queue_without_worker) == 2


@pytest.mark.django_db(transaction=True)
def test_a_backlog_larger_than_a_batch_is_taken_by_one_delivery_batch_after_batch(
    redis_client, monkeypatch
):
    monkeypatch.setattr(
        outbox, "_enqueue", lambda *delivery, more=(): None
    )  # their deliveries lost
    keys = [uuid.uuid4().hex for _ in range(5)]
    events = [outbox_publish(TOPIC, key=key) for key in keys]

    assert outbox.outbox_process_waiting(topic=TOPIC, event_id=events[0].pk, limit=2) == 5

    assert [_runs(redis_client, key) for key in keys] == [1] * 5
    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {1}


def _publish_together(*events: tuple[str, str]) -> list[OutboxEvent]:
    """(topic, key) events written in one transaction and queued together after its commit,
    as a checkout queues its order's events."""
    with transaction.atomic():
        written = [outbox.outbox_event(topic, key=key) for topic, key in events]
        OutboxEvent.objects.bulk_create(written)
        outbox.outbox_deliver_after_commit(written)
    return written


def _queued_message(redis_client, queue: str) -> tuple[list, dict]:
    """The args and kwargs of the one delivery waiting in `queue`."""
    [raw] = redis_client.lrange(queue, 0, -1)
    args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
    return args, kwargs


@pytest.mark.django_db(transaction=True)
def test_events_published_together_for_one_queue_go_in_one_delivery_that_runs_each_once(
    redis_client, queue_without_worker
):
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    notifications = queue_names(queue_without_worker)[1]
    try:
        touched, flaky, released = _publish_together(
            (TOPIC, first), (FLAKY_TOPIC, second), ("fulfillment.released", first)
        )
        # One delivery for the two of the orders queue; the notice waits in its own queue.
        args, kwargs = _queued_message(redis_client, queue_without_worker)
        assert redis_client.llen(notifications) == 1
        assert args == [touched.pk, TOPIC]
        assert [event for event, _topic, _flag in kwargs["more"]] == [flaky.pk]
        assert redis_client.exists(outbox._queued_key(FLAKY_TOPIC))  # its topic is waited on

        waiting = outbox_publish(FLAKY_TOPIC, key=uuid.uuid4().hex)  # taken by that delivery
        assert redis_client.llen(queue_without_worker) == 1
        assert outbox_deliver.apply(args=args, kwargs=kwargs).result is True

        assert (_runs(redis_client, first), _runs(redis_client, second)) == (1, 1)
        assert OutboxEvent.objects.get(pk=waiting.pk).processed_at is not None
        assert not redis_client.exists(outbox._queued_key(TOPIC), outbox._queued_key(FLAKY_TOPIC))
        assert OutboxEvent.objects.get(pk=released.pk).processed_at is None  # not this queue's
        assert outbox_deliver.apply(args=args, kwargs=kwargs).result is False  # a duplicate
        assert (_runs(redis_client, first), _runs(redis_client, second)) == (1, 1)
    finally:
        redis_client.delete(notifications, outbox._queued_key(FLAKY_TOPIC))


@pytest.mark.worker
def test_a_failure_in_a_delivery_of_several_events_retries_only_the_one_that_failed(
    celery_worker_process, redis_client, broken
):
    fine = uuid.uuid4().hex
    flaky, touched = _publish_together((FLAKY_TOPIC, broken), (TOPIC, fine))

    _processed_in_time(touched, seconds=3)  # at once, not held up by the failure before it
    wait_until(lambda: OutboxEvent.objects.get(pk=flaky.pk).attempts >= 1)
    assert "downstream service is down" in OutboxEvent.objects.get(pk=flaky.pk).last_error
    redis_client.delete(broken_key(broken))  # the service is back before the retry (5 s)

    _processed_in_time(flaky, seconds=20)
    assert (_runs(redis_client, fine), _runs(redis_client, broken)) == (1, 1)
    assert OutboxEvent.objects.get(pk=touched.pk).attempts == 1  # its run was not retried
    assert OutboxEvent.objects.get(pk=flaky.pk).attempts == 2


def _queued_eta(redis_client, queue: str) -> str | None:
    """When the one delivery waiting in `queue` is to start (None: at once)."""
    [raw] = redis_client.lrange(queue, 0, -1)
    return json.loads(raw)["headers"].get("eta")


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_set_its_flag_starts_after_the_linger_and_a_requeue_at_once(
    redis_client, queue_without_worker, settings
):
    settings.OUTBOX_BATCH_LINGER = 5
    before = timezone.now()
    event = outbox_publish(TOPIC, key=uuid.uuid4().hex)

    eta = _queued_eta(redis_client, queue_without_worker)
    assert eta is not None
    starts = datetime.fromisoformat(eta)
    assert before + timedelta(seconds=5) <= starts <= timezone.now() + timedelta(seconds=5)

    redis_client.delete(queue_without_worker)
    OutboxEvent.objects.filter(pk=event.pk).update(processed_at=None)
    assert outbox_requeue(event_ids=[event.pk]) == 1  # a person's retry sets no flag
    assert _queued_eta(redis_client, queue_without_worker) is None

    redis_client.delete(queue_without_worker, outbox._queued_key(TOPIC))
    settings.OUTBOX_BATCH_LINGER = 0
    outbox_publish(TOPIC, key=uuid.uuid4().hex)
    assert _queued_eta(redis_client, queue_without_worker) is None


@pytest.mark.worker
def test_events_published_one_by_one_within_the_linger_are_handled_in_one_batch(
    celery_worker_process, redis_client, settings
):
    settings.OUTBOX_BATCH_LINGER = 2  # the publisher's setting: the delivery's countdown
    key = uuid.uuid4().hex
    events = [outbox_publish(BATCH_TOPIC, key=key) for _ in range(3)]  # three commits

    for event in events:
        _processed_in_time(event)
    assert [int(n) for n in redis_client.lrange(batches_key(key), 0, -1)] == [3]
    assert {e.attempts for e in OutboxEvent.objects.filter(pk__in=[e.pk for e in events])} == {1}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_of_several_topics_takes_one_batch_of_a_backlog_and_queues_the_rest(
    redis_client, queue_without_worker
):
    keys = [uuid.uuid4().hex for _ in range(outbox.ONE_BY_ONE_SIZE + 5)]
    backlog = [outbox_publish(TOPIC, key=key) for key in keys]
    other = outbox_publish(FLAKY_TOPIC, key=uuid.uuid4().hex)
    redis_client.delete(queue_without_worker, outbox._queued_key(TOPIC))
    redis_client.delete(outbox._queued_key(FLAKY_TOPIC))

    more = [[other.pk, FLAKY_TOPIC, ""]]
    assert outbox_deliver.apply(args=[backlog[0].pk, TOPIC], kwargs={"more": more}).result

    # The other topic did not wait for the whole backlog: one batch, the rest queued apart.
    assert OutboxEvent.objects.get(pk=other.pk).processed_at is not None
    assert sum(_runs(redis_client, key) for key in keys) == outbox.ONE_BY_ONE_SIZE
    args, _kwargs = _queued_message(redis_client, queue_without_worker)
    assert args[1] == TOPIC
    redis_client.delete(outbox._queued_key(FLAKY_TOPIC))

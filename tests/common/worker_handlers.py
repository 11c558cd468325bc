"""Outbox handlers for tests: they record each run in Redis, so runs can be counted."""

import redis
from celery import shared_task
from django.conf import settings

from common.outbox import outbox_batch_handler, outbox_handler

TOPIC = "test.touch"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def runs_key(key: str) -> str:
    return f"omnistock-test:outbox:{key}"


@outbox_handler(TOPIC)
def touch(event) -> None:
    _redis().rpush(runs_key(event.payload["key"]), event.pk)


BATCH_TOPIC = "test.batch"


def batches_key(key: str) -> str:
    return f"omnistock-test:outbox-batches:{key}"


@outbox_batch_handler(BATCH_TOPIC)
def touch_many(events) -> None:
    """Records, per key of its events, how many of them came in this one batch."""
    client = _redis()
    for key in {event.payload["key"] for event in events}:
        client.rpush(batches_key(key), sum(event.payload["key"] == key for event in events))


@outbox_handler(BATCH_TOPIC)
def touch_one(event) -> None:
    touch_many([event])


FLAKY_TOPIC = "test.flaky"


def broken_key(key: str) -> str:
    return f"omnistock-test:outbox-broken:{key}"


@outbox_handler(FLAKY_TOPIC)
def flaky(event) -> None:
    """Fails while its key is marked broken in Redis (a mail server down, say), then works."""
    client = _redis()
    if client.exists(broken_key(event.payload["key"])):
        raise ConnectionError("the downstream service is down")
    client.rpush(runs_key(event.payload["key"]), event.pk)


@shared_task(name="tests.always_fails")
def always_fails() -> None:
    """A task that fails every time it runs (a bug, say)."""
    raise RuntimeError("this task always fails")


@shared_task(bind=True, max_retries=1, name="tests.retries_then_fails")
def retries_then_fails(self) -> None:
    """Retried once (a downstream service down), then given up on."""
    raise self.retry(exc=ConnectionError("the downstream service is down"), countdown=0)

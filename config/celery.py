"""The Celery app: configured from Django settings (CELERY_*), tasks found in every app.

Two queues, so a flood of customer messages never holds up the work an order waits for:
`<prefix>orders` (the default: releases, re-routes, captures, refunds, points, periodic
work) and `<prefix>notifications` (email, SMS and store alerts). The prefix is what the
default queue's name has before `orders` (CELERY_QUEUE_PREFIX), so a deployment, a test run
or a benchmark that names its own default queue gets its own notifications queue with it.
"""

import os

from celery import Celery, signals
from django.db import connections
from kombu import Exchange, Queue

from common import logging as log_context
from common import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

ORDERS = "orders"
NOTIFICATIONS = "notifications"
OUTBOX_DELIVER = "common.tasks.outbox_deliver"
# Outbox topics whose handler only tells someone (a customer, a store's staff).
NOTIFICATION_TOPICS = frozenset(
    {
        "fulfillment.released",
        "fulfillment.transfer_shipped",
        "fulfillment.count_requested",
        "fulfillment.escalated",
        "fulfillment.customer_arrived",
        "fulfillment.ready",
        "fulfillment.shipped",
        "order.cancelled",
        "order.lines_cancelled",
        "return.requested",
        "return.received",
        "return.refunded",
        "customers.points_expiring",
    }
)
# Tasks that only prepare messages.
NOTIFICATION_TASKS = frozenset({"customers.tasks.notify_expiring_points"})

app = Celery("omnistock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _declare_queues(sender, **kwargs) -> None:
    """A worker started without -Q consumes both queues."""
    sender.conf.task_queues = [Queue(q, Exchange(q), routing_key=q) for q in queue_names()]


def queue_names(default_queue: str | None = None) -> tuple[str, str]:
    """(orders queue, notifications queue) for the default queue `default_queue` (the app's
    when not given): `orders` gives ("orders", "notifications"), `run7-orders` gives
    ("run7-orders", "run7-notifications") and any other name `q` gives (q, "q.notifications")."""
    orders = default_queue or app.conf.task_default_queue
    if orders.endswith(ORDERS):
        return orders, orders.removesuffix(ORDERS) + NOTIFICATIONS
    return orders, f"{orders}.{NOTIFICATIONS}"


def _outbox_topic(args, kwargs) -> str:
    topic = kwargs.get("topic") or (args[1] if len(args) > 1 else "")
    if topic or not args:
        return topic
    # Re-queued by the sweeper or a person, which name only the event.
    from common.models import OutboxEvent

    return OutboxEvent.objects.filter(pk=args[0]).values_list("topic", flat=True).first() or ""


def route_task(name, args, kwargs, options, task=None, **kw):
    """CELERY_TASK_ROUTES: notification work to the notifications queue; everything else
    stays on the default (orders) queue."""
    if name in NOTIFICATION_TASKS or (
        name == OUTBOX_DELIVER and _outbox_topic(args or (), kwargs or {}) in NOTIFICATION_TOPICS
    ):
        return {"queue": queue_names()[1]}
    return None


@signals.task_prerun.connect
def _database_ready(sender=None, **kwargs) -> None:
    """A worker keeps its database connection from task to task (CELERY_DB_REUSE_MAX), as
    a web process keeps it from request to request: before each task, as Django before each
    request, one that errored or outlived CONN_MAX_AGE is dropped, and so is one the server
    ended while the worker waited (a restart, a terminated backend), so the task opens a
    fresh one instead of failing on it."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return  # in process: the caller's connection and transaction
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
        if conn.connection is not None and not conn.is_usable():
            conn.close()


log_context.connect_celery_signals()
metrics.connect_celery_signals()

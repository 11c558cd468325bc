import uuid

import pytest
from django.db import connection

from config.celery import app as celery_app
from config.celery import queue_names
from tests.conftest import celery_worker_start, celery_worker_stop

WORKER_METRICS_PORT = 18611
METRICS_TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def orders_worker(transactional_db, redis_client, tmp_path):
    """A real worker on a queue of its own that consumes only the orders queue (its
    notifications queue fills up), logs JSON lines and serves its metrics on
    WORKER_METRICS_PORT."""
    orders, notifications = queue_names(f"test-{uuid.uuid4().hex[:10]}-orders")
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "task_default_queue": celery_app.conf.task_default_queue,
    }
    celery_app.conf.update(task_always_eager=False, task_default_queue=orders)
    env = {
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METRICS_PORT": str(WORKER_METRICS_PORT),
        "METRICS_ADDRESS": "127.0.0.1",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    proc = None
    try:
        proc = celery_worker_start(
            queue=orders, only=orders, log_path=tmp_path / "worker.log", env=env
        )
        proc.notifications = notifications
        yield proc
    finally:
        celery_app.conf.update(**previous)
        if proc is not None:
            celery_worker_stop(proc)
        redis_client.delete(notifications, orders)
        connection.close()

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIClient

from config.celery import app as celery_app
from config.celery import queue_names
from tests.factories import KUNSHAN, PUDONG, XUHUI, api_client_for, channel_client
from tests.inventory.factories import SkuFactory
from tests.stores.factories import LocationFactory, WarehouseFactory

BASE_DIR = Path(settings.BASE_DIR)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# --- the places and goods most tests use --------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with no requests counted against any API rate limit."""
    cache.clear()


@pytest.fixture
def xuhui(db):
    return LocationFactory(code="SH-XUHUI", name="Xuhui store", **XUHUI)


@pytest.fixture
def pudong(db):
    return LocationFactory(code="SH-PUDONG", name="Pudong store", **PUDONG)


@pytest.fixture
def kunshan(db):
    return WarehouseFactory(code="DC-KUNSHAN", name="Kunshan warehouse", **KUNSHAN)


@pytest.fixture
def tee(db):
    return SkuFactory(code="TEE-WHITE-M", name="White tee, M", price=Decimal("99.00"))


@pytest.fixture
def mug(db):
    return SkuFactory(code="MUG-BLUE", name="Blue mug", price=Decimal("35.50"))


@pytest.fixture
def web(db):
    """The web storefront's backend, with its channel token."""
    return channel_client("web")


# --- clients, Redis and real worker processes ----------------------------------------------


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_client(db):
    """An API client authenticated with a real token of a fresh user."""
    from django.contrib.auth import get_user_model

    def make(user=None, *, channel: str = "") -> APIClient:
        user = user or get_user_model().objects.create_user(username=f"u-{uuid.uuid4().hex[:8]}")
        return api_client_for(user, channel=channel)

    return make


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(settings.REDIS_URL or "redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {exc}")
        pytest.skip(f"Redis is not reachable: {exc}")
    return client


def database_url_for_processes() -> str:
    """The URL of the test database, for processes the tests start (a worker, a server)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def celery_worker_command(*, queue: str, name: str, only: str = "") -> list[str]:
    """The command line of a real `celery worker` named `name` consuming `queue` (the
    default, orders, queue) and its notifications queue, or just the queue `only`."""
    return [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "-c", "2",
        "-n", name, "-Q", only or ",".join(queue_names(queue)),
        "--include", "tests.common.worker_handlers",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def celery_worker_start(
    *,
    queue: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    name: str = "",
    only: str = "",
) -> subprocess.Popen:
    """Start a real `celery worker` process consuming `queue` (and its notifications queue,
    or only the queue `only`), using the test database, and wait until it answers a ping.
    `env` adds to (or overrides) the worker's environment."""
    name = name or f"{queue}@localhost"
    worker_env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        **(env or {}),
    }
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            celery_worker_command(queue=queue, name=name, only=only),
            cwd=BASE_DIR, env=worker_env, stdout=out, stderr=out,
        )  # fmt: skip
    proc.queue = queue
    proc.log_path = log_path
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(destination=[name], timeout=1):
        if proc.poll() is not None or time.monotonic() > deadline:
            celery_worker_stop(proc)
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()}")
    return proc


def celery_worker_kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes at once, as when its machine dies."""
    pool = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_of(entry) == proc.pid
    ]
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


def outbox_row_unlocked(event_id: int) -> bool:
    """True once no transaction holds the outbox event's row (a killed worker's has ended)."""
    from common.models import OutboxEvent

    try:
        with transaction.atomic():
            OutboxEvent.objects.select_for_update(nowait=True).get(pk=event_id)
    except OperationalError:
        return False
    return True


def _parent_of(proc_dir: Path) -> int | None:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # it ended while we looked


def celery_worker_stop(proc: subprocess.Popen) -> None:
    """Ask the worker to stop (warm shutdown); kill it if it does not within 20 seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def celery_worker_env() -> dict[str, str]:
    """Extra environment of the worker that `celery_worker_process` starts; a conftest
    further down may override it (an email backend the test can read, say)."""
    return {}


@pytest.fixture
def celery_worker_process(transactional_db, redis_client, tmp_path, celery_worker_env):
    """A real `celery worker` process on its own queue, using the test database.

    Tasks sent from the test go through Redis to this worker; the fixture yields the
    process and stops it at the end.
    """
    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "task_default_queue": celery_app.conf.task_default_queue,
    }
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    proc = None
    try:
        proc = celery_worker_start(
            queue=queue, log_path=tmp_path / "worker.log", env=celery_worker_env
        )
        yield proc
    finally:
        celery_app.conf.update(**previous)
        if proc is not None:
            celery_worker_stop(proc)
        connection.close()


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail with a message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")

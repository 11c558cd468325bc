"""The outbox behind a real PgBouncer in transaction pooling mode.

Each transaction of a client may run on any of the pooler's few server connections, so
nothing may rely on the session: real Celery workers, connected through PgBouncer, deliver
the same events several times at once; every event's effect happens once, a failing handler
is counted, and no lock is left behind on any server connection.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from common import outbox
from common.models import OutboxEvent
from common.tasks import outbox_deliver
from config.celery import app as celery_app
from fulfillment.models import FulfillmentOrder
from orders.models import Order
from tests.common.worker_handlers import FLAKY_TOPIC, TOPIC, broken_key, runs_key
from tests.conftest import (
    IN_CI,
    celery_worker_start,
    celery_worker_stop,
    database_url_for_processes,
    wait_until,
)
from tests.factories import assert_stock_consistent, place_order
from tests.inventory.factories import stock_put

PORTS = range(18210, 18300)
# Fewer server connections than the workers' processes: their transactions share them.
SERVER_CONNECTIONS = 2
DUPLICATES = 3


def _pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        message = "pgbouncer is not installed (Debian package pgbouncer; make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {PORTS}")


@pytest.fixture
def pgbouncer(transactional_db):
    """A PgBouncer (pool_mode = transaction) in front of the test database; yields its URL."""
    binary = _pgbouncer_binary()
    s = connection.settings_dict
    # PgBouncer refuses to run as root; it then drops to `nobody`, who must read its files.
    workdir = Path(tempfile.mkdtemp(prefix="omnistock-pgbouncer-"))
    workdir.chmod(0o755)
    port = _free_port()
    (workdir / "userlist.txt").write_text(f'"{s["USER"]}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
{s["NAME"]} = host={s["HOST"] or "127.0.0.1"} port={s["PORT"] or 5432} dbname={s["NAME"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 100
ignore_startup_parameters = extra_float_digits,options
"""
    )
    for path in workdir.iterdir():
        path.chmod(0o644)
    command = [binary, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    log = (workdir / "pgbouncer.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    url = f"postgres://{auth}@127.0.0.1:{port}/{s['NAME']}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(url, prepare_threshold=None).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (workdir / "pgbouncer.log").read_text()
                    pytest.fail(f"pgbouncer did not start:\n{log_text}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def workers_behind_pgbouncer(pgbouncer, redis_client, tmp_path):
    """Two real Celery workers (two processes each) on one queue, connected through
    PgBouncer with DATABASE_POOL_MODE=transaction."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "task_default_queue": celery_app.conf.task_default_queue,
    }
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    env = {"DATABASE_URL": pgbouncer, "DATABASE_POOL_MODE": "transaction"}
    started = []
    try:
        for name in ("a", "b"):  # one by one: those started are stopped if the next fails
            started.append(  # noqa: PERF401
                celery_worker_start(
                    queue=queue,
                    log_path=tmp_path / f"worker-{name}.log",
                    env=env,
                    name=f"{queue}-{name}@localhost",
                )
            )
        yield started
    finally:
        celery_app.conf.update(**previous)
        for proc in started:
            celery_worker_stop(proc)
        connection.close()


@pytest.fixture
def held_back(monkeypatch):
    """Deliveries queued after commit, kept here instead of sent."""
    queued: list[tuple] = []
    monkeypatch.setattr(
        outbox, "_enqueue", lambda *delivery, more=(): queued.extend([delivery, *more])
    )
    return queued


def _deliver_at_once(deliveries: list[tuple[int, str]]) -> None:
    """Every delivery sent DUPLICATES times, the copies of each one after the other."""
    for event_id, topic in deliveries:
        for _ in range(DUPLICATES):
            outbox_deliver.delay(event_id, topic)


def _locks_left() -> list[tuple]:
    """Locks any session but this one holds on the test database (none once all is done)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT locktype, relation::regclass::text, pid FROM pg_locks"
            " WHERE pid <> pg_backend_pid() AND locktype IN ('advisory', 'relation', 'tuple')"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchall()


def _workers_failed(workers) -> str:
    return "\n".join(proc.log_path.read_text() for proc in workers)


@pytest.mark.worker
def test_duplicate_deliveries_through_pgbouncer_run_each_handler_once(
    workers_behind_pgbouncer, redis_client
):
    keys = [uuid.uuid4().hex for _ in range(30)]
    events = OutboxEvent.objects.bulk_create(
        OutboxEvent(topic=TOPIC, payload={"key": key}, enqueued_at=timezone.now()) for key in keys
    )

    _deliver_at_once([(event.pk, "") for event in events])

    def all_processed():
        return not OutboxEvent.objects.filter(processed_at__isnull=True).exists()

    try:
        wait_until(all_processed, timeout=90)
    except AssertionError:
        pytest.fail(_workers_failed(workers_behind_pgbouncer))
    wait_until(_workers_idle)  # the duplicates still in flight find the events processed
    assert [redis_client.llen(runs_key(key)) for key in keys] == [1] * len(keys)
    # A copy counts an attempt only when it comes before another has claimed the event.
    assert max(OutboxEvent.objects.values_list("attempts", flat=True)) <= DUPLICATES
    assert _locks_left() == []


def _workers_idle() -> bool:
    """Nothing waits on the queue, and no worker runs or holds a task."""
    queue = celery_app.conf.task_default_queue
    with celery_app.connection_for_write() as conn, conn.channel() as channel:
        if channel.client.llen(queue):
            return False
    inspect = celery_app.control.inspect(timeout=1)
    for tasks in ((inspect.active() or {}) | (inspect.reserved() or {})).values():
        if tasks:
            return False
    return True


@pytest.mark.worker
def test_a_failing_handler_through_pgbouncer_is_counted_and_leaves_nothing_locked(
    workers_behind_pgbouncer, redis_client
):
    key = uuid.uuid4().hex
    redis_client.set(broken_key(key), 1)
    try:
        event = OutboxEvent.objects.create(
            topic=FLAKY_TOPIC, payload={"key": key}, enqueued_at=timezone.now()
        )
        _deliver_at_once([(event.pk, "")])

        failed = wait_until(
            lambda: (
                OutboxEvent.objects.filter(pk=event.pk, attempts__gte=1)
                .exclude(last_error="")
                .first()
            ),
            timeout=60,
        )
    finally:
        redis_client.delete(broken_key(key))

    assert failed.processed_at is None
    assert "downstream service is down" in failed.last_error
    assert redis_client.llen(runs_key(key)) == 0
    # Its retries come and go; between them nothing stays locked.
    wait_until(lambda: _locks_left() == [], timeout=10)


@pytest.mark.worker
def test_a_backlog_of_placed_orders_delivered_many_times_through_pgbouncer_is_released_once(
    workers_behind_pgbouncer, held_back, xuhui, pudong, kunshan, tee, mug
):
    count = 12
    stock_put(location=xuhui, sku=tee, on_hand=count)
    stock_put(location=kunshan, sku=mug, on_hand=count)  # a split: two locations each
    stock_put(location=pudong, sku=tee, on_hand=count)
    orders = [place_order([(tee, 1), (mug, 1)], method="ship") for _ in range(count)]
    placed = [delivery for delivery in held_back if delivery[1] == "order.placed"]
    assert len(placed) == count

    _deliver_at_once(placed)

    def all_released():
        return (
            Order.objects.filter(status=Order.Status.PROCESSING).count() == count
            and not OutboxEvent.objects.filter(
                topic="order.placed", processed_at__isnull=True
            ).exists()
        )

    try:
        wait_until(all_released, timeout=120)
    except AssertionError:
        pytest.fail(_workers_failed(workers_behind_pgbouncer))
    wait_until(_workers_idle)
    for order in orders:
        assert FulfillmentOrder.objects.filter(order=order).count() == 2
    assert _locks_left() == []
    assert_stock_consistent()


def test_transaction_pool_mode_keeps_postgresql_and_turns_off_session_features(tmp_path):
    probe = (
        "import django, json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
        "django.setup(); from django.conf import settings as s; d = s.DATABASES['default'];"
        "o = d.get('OPTIONS', {}); print(json.dumps([d['ENGINE'],"
        " d.get('DISABLE_SERVER_SIDE_CURSORS', False), o.get('server_side_binding', 'unset'),"
        " o.get('prepare_threshold', 'unset')]))"
    )

    def configured(**env: str) -> list:
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=settings.BASE_DIR,
            env={**os.environ, "OMNISTOCK_VAR_DIR": str(tmp_path), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    url = database_url_for_processes()
    assert configured(DATABASE_URL=url, DATABASE_POOL_MODE="transaction") == [
        "common.postgresql",
        True,
        True,
        None,
    ]
    assert configured(DATABASE_URL=url, DATABASE_POOL_MODE="session") == [
        "common.postgresql",
        False,
        True,
        5,
    ]
    assert configured(
        DATABASE_URL=url, DATABASE_POOL_MODE="session", DB_SERVER_SIDE_BINDING="0"
    ) == ["common.postgresql", False, "unset", "unset"]

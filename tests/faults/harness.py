"""Real processes the fault tests start on their own ports and stop by pid: a Redis server
that can be taken down and brought back, a gunicorn serving the test database, and a Celery
worker whose broker is that Redis, which can be SIGKILLed at a point the test chooses (a
table the test holds, which the worker's handler waits for)."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from celery import Celery
from django.conf import settings
from kombu.exceptions import OperationalError
from psycopg import sql

from tests.conftest import (
    celery_worker_command,
    celery_worker_kill,
    celery_worker_stop,
    database_url_for_processes,
)

REDIS_PORT = int(os.environ.get("OMNISTOCK_FAULTS_REDIS_PORT", "17501"))
WEB_PORT = int(os.environ.get("OMNISTOCK_FAULTS_WEB_PORT", "17502"))
BASE_DIR = Path(settings.BASE_DIR)


def _wait(predicate, *, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start:\n{log.read_text() if log.exists() else ''}")
        time.sleep(0.1)


class RedisServer:
    """A redis-server of the test's own on `port`, without persistence: stopping it loses
    every queued message, as a crashed broker does."""

    def __init__(self, *, port: int, log_dir: Path) -> None:
        self.port, self.log = port, log_dir / f"redis-{port}.log"
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the fault tests")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--logfile", str(self.log)]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait(self._answers, timeout=15, what="redis-server", proc=self.proc, log=self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def process_env(*, broker: str, queue: str, extra: dict[str, str] | None = None) -> dict:
    """The environment of a server or worker of the test: the test database, `broker` as
    Redis and `queue` as the queue every task goes to."""
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "DJANGO_DEBUG": "1",
        **(extra or {}),
    }


class WebServer:
    """gunicorn serving the project on `port` with the environment `env`."""

    def __init__(self, *, port: int, env: dict, log_dir: Path) -> None:
        self.port, self.env, self.log = port, env, log_dir / f"web-{port}.log"
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=2).status_code < 500
        except requests.RequestException:
            return False

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4",
                   "--timeout", "60"]  # fmt: skip
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=out
            )
        _wait(self._answers, timeout=60, what="gunicorn", proc=self.proc, log=self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def post(self, path: str, body: dict, *, token: str, **headers: str) -> requests.Response:
        return requests.post(
            f"{self.base}{path}", json=body, timeout=30,
            headers={"Authorization": f"Token {token}", **headers},
        )  # fmt: skip


def worker_start(*, env: dict, log_path: Path) -> subprocess.Popen:
    """A real Celery worker on `env`'s broker and queue; waits until it answers a ping."""
    queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    name = f"{queue}-{uuid.uuid4().hex[:4]}@localhost"
    command = celery_worker_command(queue=queue, name=name)
    with log_path.open("w") as out:
        proc = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=out)
    app = Celery(broker=env["REDIS_URL"], set_as_current=False)
    deadline = time.monotonic() + 60
    try:
        while not _answers_ping(app, name):
            if proc.poll() is not None or time.monotonic() > deadline:
                celery_worker_stop(proc)
                pytest.fail(f"celery worker did not start:\n{log_path.read_text()}")
    finally:
        app.close()  # no connection of it outlives this Redis (the next test starts another)
    return proc


def _answers_ping(app: Celery, name: str) -> bool:
    try:
        return bool(app.control.ping(destination=[name], timeout=1))
    except (OSError, redis.RedisError, OperationalError):
        return False  # a connection the broker closed: ask again on a new one


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`manage.py args` as an operator runs it beside the servers (same broker, database)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def token_of(client) -> str:
    """The token of a test APIClient, for a request to a live server."""
    return client._credentials["HTTP_AUTHORIZATION"].split()[1]


def worker_kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes by their pids, as when its machine dies: no
    warm shutdown, no ack; its database sessions end when PostgreSQL finds them gone."""
    celery_worker_kill(proc)


class TableHeld:
    """`table` held in EXCLUSIVE mode by a session of the test's own: reads go on, every
    write to it waits, so a handler that writes it stops there, its transaction open."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.conn = psycopg.connect(database_url_for_processes())
        self.conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(table)))

    def waited_for(self) -> bool:
        """True once another session waits for the table."""
        row = self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            [self.table],
        ).fetchone()
        return row[0] > 0

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


SWEEP = (
    "from datetime import timedelta; from common.outbox import outbox_sweep; "
    "print(outbox_sweep(older_than=timedelta(0)))"
)


def outbox_sweep_now(*, env: dict) -> int:
    """The beat's outbox sweep, run once beside the servers: every unprocessed event is
    queued again at once. Returns how many were."""
    done = manage("shell", "-c", SWEEP, env=env)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])

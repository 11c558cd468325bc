"""The run command against real services: web, a Celery worker and beat, stopped together."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.common.test_settings import MODE_VARS
from tests.conftest import database_url_for_processes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[str]:
    """Command lines of the direct children of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return found


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status
    except OSError:
        return None


def test_serve_with_a_database_and_a_broker_runs_web_worker_and_beat_and_stops_them_all(
    redis_client, tmp_path
):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARS}
    env.update(
        DATABASE_URL=database_url_for_processes(),
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SECRET_KEY="serve-test-secret-key-with-plenty-of-entropy-0123456789-abcdef",
        ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        OMNISTOCK_VAR_DIR=str(tmp_path),
        WEB_CONCURRENCY="2",
    )
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _healthz(port) != 200 and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(0.5)
        children = _children(serve.pid)

        assert _healthz(port) == 200, (tmp_path / "serve.log").read_text()
        assert any("gunicorn" in c and "--workers 2" in c for c in children), children
        assert any("celery" in c and " worker" in c for c in children), children
        assert any("celery" in c and " beat" in c for c in children), children

        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
        log.close()

    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()
    time.sleep(0.5)
    assert _children(serve.pid) == []
    assert _healthz(port) is None
    assert "worker + beat" in (tmp_path / "serve.log").read_text()

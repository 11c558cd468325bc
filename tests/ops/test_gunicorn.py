"""gunicorn as config/gunicorn.py runs the app (compose, the Dockerfile, `manage.py serve`):
a connection that has sent nothing yet holds no worker, and a client's next request goes
on the connection it already has."""

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import database_url_for_processes, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def one_worker(tmp_path):
    """gunicorn with the project's settings and a single worker; its base URL and port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60",
    ]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if server.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    try:
        wait_until(up, timeout=60)
        assert server.poll() is None, log.read_text()
        yield base, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_connection_that_sends_nothing_does_not_hold_the_only_worker(one_worker):
    base, port = one_worker
    # Connected, request not sent yet (a balancer's spare connection, a slow phone): a sync
    # worker would accept it and wait for its request, answering nobody else meanwhile
    # (until its 60 s timeout).
    with socket.create_connection(("127.0.0.1", port)) as idle:
        wait_until(lambda: _established(port) >= 1, timeout=10)
        time.sleep(0.5)  # the worker has accepted it
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:  # noqa: S310
            assert answer.status == 200
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert idle.recv(64).startswith(b"HTTP/1.1 200")


def test_a_clients_next_request_goes_on_the_same_connection(one_worker):
    _, port = one_worker
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", "/healthz")
        first = client.getresponse()
        first.read()
        assert first.status == 200
        assert first.getheader("Connection", "").lower() != "close"
        kept = client.sock
        client.request("GET", "/healthz")
        second = client.getresponse()
        second.read()
        assert second.status == 200
        assert client.sock is kept  # not closed and opened again
    finally:
        client.close()


def _established(port: int) -> int:
    """Connections to `port` the kernel holds established (/proc/net/tcp, state 01)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = f":{port:04X}"
    return sum(1 for line in lines if line.split()[1].endswith(local) and line.split()[3] == "01")

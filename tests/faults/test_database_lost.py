"""The database connection lost in the middle of a request (its backend terminated while
it waits on a lock) answers a clean 503 with Retry-After, never a 500 with a trace; the
next request is served as usual."""

import threading
import uuid

import psycopg
import pytest
import requests
from django.contrib.auth import get_user_model

from orders.models import Order
from tests.conftest import database_url_for_processes, wait_until
from tests.faults.harness import (
    REDIS_PORT,
    WEB_PORT,
    RedisServer,
    WebServer,
    process_env,
    token_of,
)
from tests.faults.invariants import assert_invariants_clean
from tests.faults.test_redis_down import _checkout_body
from tests.inventory.factories import stock_put

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def server(tmp_path):
    broker = RedisServer(port=REDIS_PORT, log_dir=tmp_path)
    broker.start()
    web = WebServer(
        port=WEB_PORT,
        env=process_env(broker=broker.url, queue=f"faults-{uuid.uuid4().hex[:8]}"),
        log_dir=tmp_path,
    )
    try:
        web.start()
        yield web
    finally:
        web.stop()
        broker.stop()


def _cut_off_while_waiting(table: str, send) -> requests.Response:
    """Send a request while another session holds `table`; once the request's backend waits
    for it, terminate that backend, as when the database server drops the connection."""
    blocker = psycopg.connect(database_url_for_processes())
    answer: dict[str, requests.Response] = {}
    try:
        blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        request = threading.Thread(target=lambda: answer.setdefault("response", send()))
        request.start()

        def waiting_pid() -> int | None:
            row = blocker.execute(
                "SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                [table],
            ).fetchone()
            return row[0] if row else None

        pid = wait_until(waiting_pid)
        blocker.execute("SELECT pg_terminate_backend(%s)", [pid])
        request.join(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    return answer["response"]


def test_checkout_whose_connection_is_lost_answers_503_and_the_next_one_is_placed(
    server, web, xuhui, tee
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    token = token_of(web)

    def checkout() -> requests.Response:
        return server.post(
            "/api/v1/checkout", _checkout_body(tee), token=token,
            **{"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip

    response = _cut_off_while_waiting("inventory_stocklevel", checkout)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "service_unavailable"
    assert response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert not Order.objects.exists()  # nothing half-written
    again = checkout()
    assert again.status_code == 201, again.text
    assert Order.objects.count() == 1
    assert_invariants_clean()


def test_admin_login_whose_connection_is_lost_answers_503_without_a_trace(server):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    session = requests.Session()
    session.get(f"{server.base}/admin/login/", timeout=30)

    def log_in() -> requests.Response:
        return session.post(
            f"{server.base}/admin/login/",
            data={"username": "boss", "password": "a-long-password-1",
                  "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{server.base}/admin/login/"},
            timeout=30, allow_redirects=False,
        )  # fmt: skip

    response = _cut_off_while_waiting("auth_user", log_in)

    assert response.status_code == 503, response.text[:500]
    assert "Traceback" not in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert log_in().status_code == 302  # logged in, once the database answers again

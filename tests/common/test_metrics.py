"""GET /metrics: request rates and latencies, checkouts, the outbox and Celery tasks, for a
scraper with the token or staff only."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from common.models import OutboxEvent
from tests.common.conftest import METRICS_TOKEN, WORKER_METRICS_PORT
from tests.conftest import database_url_for_processes, wait_until
from tests.factories import api_checkout, new_key
from tests.inventory.factories import stock_put
from tests.orders.factories import pickup_at

WEB_PORT = 18612


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN

    def get() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert response.status_code == 200, response.content
        return samples(response.content.decode())

    return get


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", METRICS_TOKEN, "Basic x"])
def test_metrics_are_not_found_without_the_token(client, settings, authorization):
    settings.METRICS_TOKEN = METRICS_TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    assert client.get("/metrics", **headers).status_code == 404


@pytest.mark.django_db
def test_with_no_token_configured_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_staff_signed_in_read_the_metrics_and_others_do_not(client, django_user_model):
    customer = django_user_model.objects.create_user(username="shopper", password="x")
    staff = django_user_model.objects.create_user(username="ops", password="x", is_staff=True)

    client.force_login(customer)
    assert client.get("/metrics").status_code == 404
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_requests_are_counted_by_view_method_and_status(scrape, db, api_client):
    before = scrape()
    for _ in range(3):
        api_client.get("/healthz")
    api_client.get("/api/v1/no-such-thing")

    after = scrape()
    count = "omnistock_http_request_duration_seconds_count"
    healthz = {"view": "healthz", "method": "GET", "status": "200"}
    assert value(after, count, **healthz) - value(before, count, **healthz) == 3
    assert value(after, "omnistock_http_request_duration_seconds_sum", **healthz) > 0
    missing = {"view": "common.views.api_not_found", "method": "GET", "status": "404"}
    assert value(after, count, **missing) - value(before, count, **missing) == 1


def test_a_placed_checkout_counts_once_and_a_refused_one_by_its_code(scrape, web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    before = scrape()

    key = new_key()
    api_checkout(web, [(tee, 1)], pickup_at(xuhui), key=key)
    api_checkout(web, [(tee, 1)], pickup_at(xuhui), key=key)  # a replay: not a new order
    body = {
        "customer": {"email": "bo@example.com"},
        "channel": "web",
        "lines": [{"sku": tee.code, "quantity": 1}],
        "delivery": pickup_at(xuhui),
    }
    short = web.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    body["lines"] = [{"sku": "NO-SUCH-SKU", "quantity": 1}]
    invalid = web.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())

    after = scrape()
    assert (short.status_code, invalid.status_code) == (409, 400)
    placed = "omnistock_checkouts_placed_total"
    refused = "omnistock_checkouts_refused_total"
    assert value(after, placed) - value(before, placed) == 1
    assert (
        value(after, refused, code="insufficient_stock")
        - value(before, refused, code="insufficient_stock")
        == 1
    )
    assert value(after, refused, code="invalid") - value(before, refused, code="invalid") == 1


def test_the_outbox_backlog_its_age_and_the_given_up_are_read_at_scrape_time(
    scrape, db, settings, django_assert_num_queries
):
    old = OutboxEvent.objects.create(topic="order.placed", payload={})
    OutboxEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    OutboxEvent.objects.create(topic="order.placed", payload={})
    OutboxEvent.objects.create(topic="order.placed", payload={}, processed_at=timezone.now())
    OutboxEvent.objects.create(
        topic="fulfillment.ready", payload={}, attempts=settings.OUTBOX_MAX_ATTEMPTS
    )

    with django_assert_num_queries(1):
        scraped = scrape()

    assert value(scraped, "omnistock_outbox_backlog") == 2
    assert 300 <= value(scraped, "omnistock_outbox_oldest_age_seconds") < 330
    assert value(scraped, "omnistock_outbox_given_up") == 1


def test_a_task_retried_then_given_up_counts_a_retry_and_a_failure(scrape, db):
    from tests.common.worker_handlers import retries_then_fails

    before = scrape()
    retries_then_fails.apply()

    after = scrape()
    task = {"task": "tests.retries_then_fails"}
    retries, failures = (
        "omnistock_celery_task_retries_total",
        "omnistock_celery_task_failures_total",
    )
    assert value(after, retries, **task) - value(before, retries, **task) == 1
    assert value(after, failures, **task) - value(before, failures, **task) == 1


def _scrape_url(url: str, token: str = METRICS_TOKEN) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own server
        return samples(response.read().decode())


@pytest.mark.worker
def test_a_failed_task_is_counted_on_the_workers_metrics_port(orders_worker):
    from config.celery import app

    url = f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _scrape_url(url, token="wrong")
    assert refused.value.code == 404

    for _ in range(2):
        app.send_task("tests.always_fails")

    failures = "omnistock_celery_task_failures_total"
    wait_until(lambda: value(_scrape_url(url), failures, task="tests.always_fails") == 2)


@pytest.mark.slow
def test_gunicorn_workers_counts_add_up_on_every_scrape(transactional_db, tmp_path):
    """Several gunicorn workers: whichever answers the scrape reports every worker's counts."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")  # an earlier run's
    command = [
        sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi",
        "--bind", f"127.0.0.1:{WEB_PORT}", "--workers", "3",
    ]  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{WEB_PORT}"
    try:

        def up() -> bool:  # asked of another page: a request that timed out still counts
            try:
                _scrape_url(f"{base}/metrics")
            except OSError:
                return server.poll() is not None
            return True

        wait_until(up, timeout=60)
        assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
        time.sleep(2)  # every worker booted
        for _ in range(30):
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310
                pass

        count = "omnistock_http_request_duration_seconds_count"
        healthz = {"view": "healthz", "method": "GET", "status": "200"}
        seen = {value(_scrape_url(f"{base}/metrics"), count, **healthz) for _ in range(6)}
        assert seen == {30.0}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_scrape_skips_a_process_file_still_being_created(tmp_path, monkeypatch):
    """A process creates its counters' file before sizing it; a scrape that finds it empty
    (or one left so by a process killed in that moment) still reports every other one."""
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.values import MultiProcessValue

    from common import metrics

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("prometheus_client.values.ValueClass", MultiProcessValue(lambda: 4242))
    counted = Counter("omnistock_test_counted", "A counter of another process.", ["kind"],
                      registry=CollectorRegistry())  # fmt: skip
    counted.labels("made").inc(3)
    (tmp_path / "counter_4343.db").write_bytes(b"")  # a process between create and size

    scraped = samples(metrics.process_metrics().decode())

    assert value(scraped, "omnistock_test_counted_total", kind="made") == 3

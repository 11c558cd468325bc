"""A real Celery worker killed in the middle of earning a shipment's points: the sweeper
gives the event to another worker, and the points are earned once."""

from datetime import timedelta

import psycopg
import pytest
from django.db import transaction

from common.models import OutboxEvent
from common.outbox import outbox_sweep
from customers.models import Customer, PointsEntry
from customers.selectors import customer_points_summary
from orders.services.points import order_points_earn_publish
from tests.conftest import (
    celery_worker_kill,
    celery_worker_restart,
    celery_worker_stop,
    database_url_for_processes,
    outbox_row_unlocked,
    wait_until,
)
from tests.factories import api_checkout, assert_ledgers_clean
from tests.fulfillment.factories import stock_put
from tests.orders.factories import pickup_at

pytestmark = pytest.mark.worker


def _waiting_on(conn, table: str) -> bool:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table]
        )
        return cursor.fetchone()[0] > 0


def _all_processed() -> bool:
    return not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_worker_killed_mid_earn_earns_once(
    celery_worker_process, celery_worker_env, xuhui, tee, web, tmp_path
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    number = api_checkout(web, [(tee.code, 1)], pickup_at(xuhui))["number"]
    wait_until(_all_processed)  # released, its points pending
    # Another session holds the ledger, so the worker's earn stops before its entry is
    # written: the account row locked, nothing else done.
    blocker = psycopg.connect(database_url_for_processes())
    blocker.execute("LOCK TABLE customers_pointsentry IN EXCLUSIVE MODE")
    try:
        with transaction.atomic():
            order_points_earn_publish(number=number, key="handover-1", value="99.00")
        wait_until(lambda: _waiting_on(blocker, "customers_pointsentry"))
        celery_worker_kill(celery_worker_process)
    finally:
        blocker.rollback()
        blocker.close()
    [earn] = OutboxEvent.objects.filter(topic="orders.points_earn")
    wait_until(lambda: outbox_row_unlocked(earn.pk))
    earn.refresh_from_db()
    assert (earn.processed_at, earn.attempts) == (None, 1)
    assert not PointsEntry.objects.filter(kind="earn").exists()

    second = celery_worker_restart(celery_worker_process, env=celery_worker_env, log_dir=tmp_path)
    try:
        outbox_sweep(older_than=timedelta(0))
        wait_until(lambda: OutboxEvent.objects.get(pk=earn.pk).processed_at)
        outbox_sweep(older_than=timedelta(0))  # delivered twice: still once
        wait_until(_all_processed)
    finally:
        celery_worker_stop(second)

    assert PointsEntry.objects.filter(kind="earn").count() == 1
    customer = Customer.objects.get(email="ada@example.com")
    assert customer_points_summary(customer)["balance"] == 99
    assert_ledgers_clean()

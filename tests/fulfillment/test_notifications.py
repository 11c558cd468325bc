"""Emails to customers and stores: a mail server that is down never holds up the work."""

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction

from common.models import OutboxEvent
from common.outbox import outbox_process, outbox_sweep
from fulfillment.services.actions import fulfillment_ready
from orders.services.lifecycle import order_cancel
from tests.factories import assert_stock_consistent, place_order
from tests.fulfillment.factories import act, fulfillment_orders, pickup_code_in, sent_to, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "ada@example.com"
BROKEN = "tests.fulfillment.worker_mail.BrokenEmailBackend"


def ready_emails() -> list:
    return [m for m in sent_to(CUSTOMER) if "pickup code" in m.body.lower()]


def test_mail_server_down_leaves_fulfillment_going_and_the_emails_follow_once_it_is_back(
    settings, xuhui, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    settings.EMAIL_BACKEND = BROKEN

    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        assert act(at_xuhui, fo, step).status_code == 200

    fo.refresh_from_db()
    assert fo.status == "ready_for_pickup"  # the work went on
    failed = OutboxEvent.objects.filter(processed_at__isnull=True)
    assert set(failed.values_list("topic", flat=True)) == {
        "fulfillment.released",
        "fulfillment.ready",
    }
    assert all(e.attempts == 1 and "mail server is down" in e.last_error for e in failed)
    assert fo.pickup_code_hash == ""  # no code exists that the customer was not sent

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_sweep(older_than=timedelta(0)) == 2

    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
    [ready] = ready_emails()
    assert act(at_xuhui, fo, "handover", code=pickup_code_in(ready.body)).status_code == 200
    assert_stock_consistent()


def test_pickup_cancelled_before_its_email_went_out_gets_no_code(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick"):
        act(at_xuhui, fo, step)

    with transaction.atomic():
        fulfillment_ready(fulfillment_order=fo)
        order_cancel(order=order, reason="customer called")

    assert ready_emails() == []
    fo.refresh_from_db()
    assert (fo.status, fo.pickup_code_hash) == ("cancelled", "")


def test_a_new_code_replaces_a_lost_one_and_unlocks_a_locked_pickup(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)
    [first] = ready_emails()
    old_code = pickup_code_in(first.body)
    for _ in range(5):
        act(at_xuhui, fo, "handover", code="ZZZZZZ" if old_code != "ZZZZZZ" else "YYYYYY")
    assert act(at_xuhui, fo, "handover", code=old_code).json()["code"] == "pickup_code_locked"
    mail.outbox.clear()

    response = act(at_xuhui, fo, "resend-code")

    assert response.status_code == 200, response.content
    [again] = ready_emails()
    assert "new pickup code" in again.subject.lower()
    new_code = pickup_code_in(again.body)
    assert new_code != old_code  # one chance in 32**6 of a repeat
    assert act(at_xuhui, fo, "handover", code=old_code).json()["code"] == "pickup_code_invalid"
    assert act(at_xuhui, fo, "handover", code=new_code).status_code == 200


def test_a_new_code_is_only_for_a_pickup_that_is_ready(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)

    response = act(at_xuhui, fo, "resend-code")

    assert response.status_code == 409
    assert response.json()["code"] == "pickup_not_ready"


def test_customer_known_only_by_phone_gets_the_code_by_sms_and_collects_with_it(
    capsys, xuhui, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order(
        [(tee, 1)], method="pickup", location=xuhui, email=None, phone="+8613800000000"
    )
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)

    printed = capsys.readouterr().out
    assert "To: +8613800000000" in printed
    code = pickup_code_in(printed)
    notified = order.events.filter(kind="notified", data__template="ready").get()
    assert notified.message.startswith("Customer texted")
    assert (notified.data["channel"], notified.data["phone"]) == ("sms", "+8613800000000")
    assert not [m for m in mail.outbox if "pickup code" in m.body.lower()]  # stores only
    assert act(at_xuhui, fo, "handover", code=code).status_code == 200
    fo.refresh_from_db()
    assert fo.status == "picked_up"
    assert_stock_consistent()


def _ready_with_its_email_waiting(settings, xuhui, tee, at_xuhui):
    """A ready pickup whose ready email failed once (the mail server was down)."""
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick"):
        act(at_xuhui, fo, step)
    settings.EMAIL_BACKEND = BROKEN
    act(at_xuhui, fo, "ready")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    event = OutboxEvent.objects.get(topic="fulfillment.ready", processed_at__isnull=True)
    return order, fo, event


def test_ready_email_being_sent_while_the_order_is_cancelled_neither_deadlocks(
    settings, xuhui, tee, at_xuhui
):
    order, _fo, event = _ready_with_its_email_waiting(settings, xuhui, tee, at_xuhui)
    settings.EMAIL_BACKEND = "tests.fulfillment.worker_mail.SlowEmailBackend"
    errors = []

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run)

    sending = in_thread(lambda: outbox_process(event_id=event.pk))
    cancelling = in_thread(lambda: order_cancel(order=order, reason="customer called"))
    sending.start()
    time.sleep(0.5)  # the email is on its way, the pickup locked
    cancelling.start()
    sending.join(30)
    cancelling.join(30)

    assert errors == []
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert len(ready_emails()) == 1
    assert OutboxEvent.objects.get(pk=event.pk).processed_at is not None


def test_a_ready_email_delivered_after_a_resend_sends_no_second_code(
    settings, xuhui, tee, at_xuhui
):
    _order, fo, event = _ready_with_its_email_waiting(settings, xuhui, tee, at_xuhui)
    assert act(at_xuhui, fo, "resend-code").status_code == 200
    [resent] = ready_emails()

    assert outbox_sweep(older_than=timedelta(0)) == 1  # the first email, at last

    assert OutboxEvent.objects.get(pk=event.pk).processed_at is not None
    assert ready_emails() == [resent]  # superseded: no second code
    code = pickup_code_in(resent.body)
    assert act(at_xuhui, fo, "handover", code=code).status_code == 200

"""The notification backends: email when an email is known, SMS when only a phone is; the
SMS backend is a setting; plain text is never HTML-escaped."""

import io

import pytest
from django.core import mail

from common import notifications
from common.notifications import ConsoleSmsBackend, SmsMessage, notify, render_plain
from fulfillment.notifications import notify_customer
from tests.factories import place_order
from tests.inventory.factories import stock_put


def test_the_console_backend_prints_each_message_as_the_console_email_backend_does():
    stream = io.StringIO()

    sent = ConsoleSmsBackend(stream=stream).send_messages(
        [SmsMessage(to="+8613800138000", body="Your code: K7P2QX", sender="Omnistock")]
    )

    assert sent == 1
    assert stream.getvalue() == (
        "SMS from: Omnistock\nTo: +8613800138000\n\nYour code: K7P2QX\n" + "-" * 79 + "\n"
    )


def test_the_sms_backend_in_use_is_a_setting(settings):
    settings.SMS_BACKEND = "common.notifications.LocmemSmsBackend"
    notifications.sms_outbox.clear()

    delivery = notify(email=None, phone="+8613800138000", subject="Ready", body="...")

    assert (delivery.channel, delivery.to) == ("sms", "+8613800138000")
    assert notifications.sms_outbox == [
        SmsMessage(to="+8613800138000", body="Ready", sender="Omnistock")
    ]


def test_an_email_is_preferred_when_one_is_known(settings, capsys):
    delivery = notify(email="ada@example.com", phone="+8613800138000", subject="Hi", body="Hi\n")

    assert delivery.channel == "email"
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert capsys.readouterr().out == ""


def test_nobody_to_reach_sends_nothing():
    assert notify(email=None, phone=None, subject="Hi", body="Hi").channel == ""


def test_plain_text_is_never_html_escaped():
    assert "&amp;" not in render_plain("fulfillment/sms/shipped.txt", {"carrier": "S&F <Express>"})


@pytest.mark.django_db
def test_a_customer_named_with_an_ampersand_reads_it_as_typed(xuhui, tee, settings):
    settings.SMS_BACKEND = "common.notifications.LocmemSmsBackend"
    notifications.sms_outbox.clear()
    stock_put(location=xuhui, sku=tee, on_hand=2)
    by_email = place_order([(tee, 1)], location=xuhui, email="tj@example.com", name="Tom & Jerry")
    by_phone = place_order(
        [(tee, 1)], location=xuhui, email=None, phone="+8613800138000", name="Tom & Jerry"
    )

    for order in (by_email, by_phone):
        notify_customer(
            order=order, template="order_cancelled", context={"reason": "out of stock <sorry>"}
        )

    [email] = mail.outbox
    assert "Hello Tom & Jerry," in email.body
    assert "(out of stock <sorry>)" in email.body
    [sms] = notifications.sms_outbox
    assert "(out of stock <sorry>)" in sms.body
    assert by_phone.events.filter(kind="notified", data__channel="sms").exists()

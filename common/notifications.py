"""Messages to people: email through Django's mail backends, SMS through a backend of its own
with the same shape (`SMS_BACKEND`, a class path; the console one by default, which prints
each message as Django's console email backend does).

A provider's backend subclasses `BaseSmsBackend` and implements `send_messages`:

    class AcmeSmsBackend(BaseSmsBackend):
        def send_messages(self, messages):
            for message in messages:
                acme.sms.send(to=message.to, text=message.body, sender=message.sender)
            return len(messages)

and is named in the settings: `SMS_BACKEND = "myshop.sms.AcmeSmsBackend"`. It raises on a
failure: the outbox handler that sends it is retried.

`notify` reaches a person by email when an email is known, else by SMS when only a phone is.
Messages are plain text: `render_plain` never HTML-escapes (a name with "&" stays "&").
"""

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from django.conf import settings
from django.core.mail import send_mail
from django.template import Context, engines
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    sender: str = ""


class BaseSmsBackend:
    def __init__(self, *, fail_silently: bool = False, **kwargs) -> None:
        self.fail_silently = fail_silently

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        """Send them; how many were sent."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Prints each message to stdout (or `stream`), as Django's console email backend does."""

    def __init__(self, *, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        with self._lock:
            for message in messages:
                self.stream.write(f"SMS from: {message.sender}\nTo: {message.to}\n\n")
                self.stream.write(message.body.rstrip("\n") + "\n")
                self.stream.write("-" * 79 + "\n")
            self.stream.flush()
        return len(messages)


# What the in-memory backend sent, as `django.core.mail.outbox` for email.
sms_outbox: list[SmsMessage] = []


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in `common.notifications.sms_outbox` (for tests)."""

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        sms_outbox.extend(messages)
        return len(messages)


def sms_backend(**kwargs) -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)(**kwargs)


def send_sms(*, to: str, body: str) -> int:
    return sms_backend().send_messages([SmsMessage(to=to, body=body, sender=settings.SMS_SENDER)])


def render_plain(template_name: str, context: dict) -> str:
    """A plain-text template rendered without HTML escaping."""
    template = engines["django"].engine.get_template(template_name)
    return template.render(Context(context, autoescape=False))


@dataclass(frozen=True)
class Delivery:
    """How a person was reached: `channel` "email" or "sms" and the address; "" for neither."""

    channel: str
    to: str


def notify(
    *, email: str | None, phone: str | None, subject: str, body: str, sms_body: str = ""
) -> Delivery:
    """Email when an email is known, else an SMS (`sms_body`, else the subject) to the
    phone; nothing when neither is."""
    if email:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
        return Delivery(channel="email", to=email)
    if phone:
        send_sms(to=phone, body=sms_body or subject)
        return Delivery(channel="sms", to=phone)
    return Delivery(channel="", to="")

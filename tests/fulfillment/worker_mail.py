"""An email backend for a real worker process: each message goes to a Redis list, so the
test (another process) can read what was sent, the pickup code included."""

import json
import os
import time

import redis
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

KEY_VARIABLE = "OMNISTOCK_TEST_MAIL_KEY"


def mail_key(name: str) -> str:
    return f"omnistock-test:mail:{name}"


class RedisEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        client = redis.Redis.from_url(settings.REDIS_URL)
        key = mail_key(os.environ[KEY_VARIABLE])
        for message in email_messages:
            client.rpush(
                key,
                json.dumps({"subject": message.subject, "body": message.body, "to": message.to}),
            )
        return len(email_messages)


class BrokenEmailBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages) -> int:
        raise ConnectionRefusedError("the mail server is down")


class SlowEmailBackend(BaseEmailBackend):
    """A mail server that takes a second and a half to answer, then keeps the message in
    Django's test outbox."""

    def send_messages(self, email_messages) -> int:
        from django.core import mail

        time.sleep(1.5)
        mail.outbox.extend(email_messages)
        return len(email_messages)

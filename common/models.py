from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxEvent(models.Model):
    """Background work recorded in the same transaction as the change that caused it."""

    topic = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the event was (last) put on the queue; the sweeper re-queues stale ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # What the sweeper looks for: unprocessed rows by when they were last queued.
            models.Index(
                fields=["enqueued_at"],
                name="outbox_unprocessed_idx",
                condition=models.Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic}#{self.pk}"


class Channel(models.TextChoices):
    """The channel an order comes through, and the one an API token speaks for."""

    WEB = "web", "Web"
    APP = "app", "App"
    STORE = "store", "Store"


class ApiToken(models.Model):
    """An API credential. Only a SHA-256 digest of the key is stored. It works until it is
    revoked or, when it has one, until `expires_at`."""

    Channel = Channel

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise a key.")
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Blank: never expires.")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class IdempotencyRecord(models.Model):
    """The first successful answer to a request, per API client and Idempotency-Key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    reference = models.CharField(
        max_length=64, blank=True, help_text="What the first request created (an order number)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"

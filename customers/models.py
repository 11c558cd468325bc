from django.conf import settings
from django.db import models
from django.db.models import Q

from common.models import TimeStampedModel


class Customer(TimeStampedModel):
    """One person across web, app and stores, found by normalised email, E.164 phone or
    member id. A record merged into another is kept (`merged_into`): looking it up by any of
    its identifiers finds the survivor."""

    email = models.EmailField(null=True, blank=True, unique=True)
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True)
    name = models.CharField(max_length=120, blank=True)
    member_id = models.CharField(
        max_length=40, null=True, blank=True, unique=True, help_text="Issued on enrolment."
    )
    enrolled_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        help_text="The record this one was merged into: the same person.",
    )
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                # A merged record may have handed every identifier to its survivor.
                condition=Q(email__isnull=False)
                | Q(phone__isnull=False)
                | Q(merged_into__isnull=False),
                name="customer_has_email_or_phone",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="customer_not_merged_into_itself"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or self.member_id or f"customer {self.pk}"


class CustomerEvent(models.Model):
    """The customer's own timeline: enrolment and merges (orders keep theirs)."""

    class Kind(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled"
        MERGED_IN = "merged_in", "Another record merged into this one"
        MERGED_AWAY = "merged_away", "Merged into another record"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind}"

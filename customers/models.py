from django.db import models
from django.db.models import Q

from common.models import TimeStampedModel


class Customer(TimeStampedModel):
    """One person across web, app and stores, found by normalised email or E.164 phone."""

    email = models.EmailField(null=True, blank=True, unique=True)
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True)
    name = models.CharField(max_length=120, blank=True)
    loyalty_id = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(phone__isnull=False),
                name="customer_has_email_or_phone",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"customer {self.pk}"

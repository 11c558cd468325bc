from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

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


class PointsAccount(models.Model):
    """A customer's loyalty counters: changed only by conditional UPDATEs in
    `customers.points`, and always equal to the ledger (`verify_points`)."""

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="points_account"
    )
    balance = models.IntegerField(default=0, help_text="Spendable now.")
    held = models.IntegerField(default=0, help_text="Redeemed by orders not yet fulfilled.")
    tier = models.CharField(max_length=20, blank=True)
    tier_spend = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text="Trailing 12-month paid spend."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="points_held_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.balance} points"


class PointsEntry(models.Model):
    """One change of a customer's points: append-only, once per (source, kind).

    `points` is what the entry does to the spendable balance, `held` to what open orders
    hold, `pending` to what shipped lines will earn. `rate` and `multiplier` are those an
    earn was made with, so a reversal takes back what the units earned, whatever the rate
    is by then.
    """

    class Kind(models.TextChoices):
        EARN_PENDING = "earn_pending", "Earn pending (the order is not shipped yet)"
        EARN = "earn", "Earned"
        REDEEM = "redeem", "Redeemed (held by an order)"
        SPEND = "spend", "Spent (the order that held them was fulfilled)"
        RELEASE = "release", "Released (the order no longer needs them)"
        REVERSE = "reverse", "Reversed (units returned or cancelled)"
        RESTORE = "restore", "Restored (a refund of redeemed points)"
        EXPIRE = "expire", "Expired"
        ADJUST = "adjust", "Adjusted by a manager"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="points")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    points = models.IntegerField(default=0)
    held = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    source = models.CharField(max_length=300, help_text="What caused it (opaque reference).")
    demand = models.CharField(max_length=64, blank=True, db_index=True, help_text="The order.")
    takes_back = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="taken_back_by",
        help_text="The redeem a release, spend or restore settles; the earn a reversal takes back.",
    )  # fmt: skip
    rate = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    multiplier = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    value = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="The money it is for."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "points entries"
        constraints = [
            models.UniqueConstraint(fields=["source", "kind"], name="pointsentry_source_kind_uniq")
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="pointsentry_customer_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} ({self.source})"


class PointsLot(models.Model):
    """Points earned (or added) together, spendable until `expires_on`. Spending takes the
    soonest-expiring lots first; a release or restore puts points back in the lots they came
    from."""

    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="points_lots")
    points = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    expires_on = models.DateField()
    expiring_notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["expires_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__lte=F("points")), name="pointslot_remaining_within_points"
            )
        ]
        indexes = [
            models.Index(
                fields=["customer", "expires_on"],
                name="pointslot_open_idx",
                condition=Q(remaining__gt=0),
            ),
            models.Index(
                fields=["expires_on"], name="pointslot_due_idx", condition=Q(remaining__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} until {self.expires_on}"


class PointsAllocation(models.Model):
    """How many points an entry took from (positive) or gave back to (negative) a lot."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.IntegerField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.points:+d} of lot {self.lot_id}"

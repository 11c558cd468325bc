from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from common.models import TimeStampedModel


class Location(TimeStampedModel):
    """A store or warehouse that holds stock and may ship, hand over or take returns."""

    class Kind(models.TextChoices):
        STORE = "store", "Store"
        WAREHOUSE = "warehouse", "Warehouse"

    code = models.SlugField(
        max_length=32, unique=True, help_text="Public identifier, e.g. SH-XUHUI."
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STORE)
    address_line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=80, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="CN")
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    timezone = models.CharField(max_length=64, default="Asia/Shanghai")
    opening_hours = models.JSONField(
        default=dict, blank=True, help_text='Per weekday, e.g. {"mon": ["10:00", "22:00"]}.'
    )
    is_active = models.BooleanField(default=True)
    can_ship = models.BooleanField(default=False)
    can_pickup = models.BooleanField(default=False)
    can_curbside = models.BooleanField(default=False)
    accepts_returns = models.BooleanField(default=False)
    # Not 0: a new location that can ship would silently never be sent a ship order.
    daily_ship_capacity = models.PositiveIntegerField(
        default=100, help_text="Ship orders this location can take per day."
    )
    pickup_hold_hours = models.PositiveIntegerField(
        default=72, help_text="How long a ready pickup waits before it expires."
    )
    accept_sla_minutes = models.PositiveIntegerField(
        default=120, help_text="A fulfillment order not accepted within this is re-routed."
    )
    recent_rejection_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of recent fulfillment orders this location rejected; ranks it down.",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__gte=-90, latitude__lte=90),
                name="location_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__gte=-180, longitude__lte=180),
                name="location_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StaffMembership(TimeStampedModel):
    """Which locations a member of staff works at, and with which role."""

    class Role(models.TextChoices):
        ASSOCIATE = "associate", "Associate"
        MANAGER = "manager", "Manager"
        OPERATOR = "operator", "Warehouse operator"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ASSOCIATE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "location"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.location.code} ({self.role})"

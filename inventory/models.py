from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from common.models import TimeStampedModel
from stores.models import Location

# A SKU code, the public identifier: in URLs, so letters, digits and . _ - only.
SKU_CODE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._\-]*"
# Order totals are max_digits=12, decimal_places=2: 100 lines of 99 units at this still fit.
MAX_SKU_PRICE = Decimal("1000000.00")


class DeliveryMethod(models.TextChoices):
    """How a demand reaches the customer: the one vocabulary of orders, routing, reservations
    and fulfillment orders (each field takes the subset that applies to it)."""

    SHIP = "ship", "Ship to address"
    PICKUP = "pickup", "Pick up in store"
    CURBSIDE = "curbside", "Curbside pickup"
    CARRY_OUT = "carry_out", "In-store sale"
    # Units on their way to a pickup store, held at their source like a ship order.
    TRANSFER = "transfer", "Transfer to a pickup store"


# The flag a location must have for a demand to be delivered there by an at-store method.
_STORE_CAPABILITY = {
    DeliveryMethod.PICKUP: Location.can_pickup.field.name,
    DeliveryMethod.CURBSIDE: Location.can_curbside.field.name,
}


def store_capability(method: str) -> str | None:
    """The `Location` flag (`can_pickup`, `can_curbside`) a store needs to deliver by
    `method`, or None when the method needs none (ship, carry-out, transfer)."""
    return _STORE_CAPABILITY.get(method)


class Sku(TimeStampedModel):
    """A sellable item. One price across channels."""

    code = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(f"^{SKU_CODE_PATTERN}$", "Letters, digits, . _ and - only.")],
    )
    name = models.CharField(max_length=200)
    barcode = models.CharField(max_length=64, blank=True, db_index=True)
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_SKU_PRICE)],
    )
    currency = models.CharField(max_length=3, default="CNY")
    is_active = models.BooleanField(default=True)
    final_sale = models.BooleanField(
        default=False, help_text="Sold as final: returns of it are refused."
    )
    return_window_days = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Days after hand-over or shipment it may be returned; blank: the default.",
    )  # fmt: skip

    class Meta:
        ordering = ["code"]
        verbose_name = "SKU"
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="sku_price_gte_0")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StockLevel(models.Model):
    """What one location holds of one SKU. Changed only by `inventory.services`."""

    # No index of their own: the unique (location, sku) leads with location and the covering
    # (sku, location) with sku, so either serves a lookup, a join or a PROTECT check.
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="stock_levels", db_index=False
    )
    sku = models.ForeignKey(
        Sku, on_delete=models.PROTECT, related_name="stock_levels", db_index=False
    )
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    # On hand but never promised: returned goods awaiting inspection, damaged picks, units
    # reported not found until the shelf is counted (`inventory.services.holds`).
    held = models.IntegerField(default=0, db_default=0)
    safety_stock = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "sku"], name="stocklevel_location_sku_uniq"
            ),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stocklevel_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="stocklevel_held_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0, on_hand__gte=F("reserved") + F("held")),
                name="stocklevel_reserved_held_within_on_hand",
            ),
            models.CheckConstraint(
                condition=Q(safety_stock__gte=0), name="stocklevel_safety_stock_gte_0"
            ),
        ]
        indexes = [
            # Covering (PostgreSQL), so availability of a SKU across locations is index-only.
            models.Index(
                fields=["sku", "location"],
                include=["on_hand", "reserved", "held", "safety_stock"],
                name="stocklevel_sku_covering_idx",
            )
        ]

    def __str__(self) -> str:
        where = f"{self.sku_id}@{self.location_id}"
        return f"{where}: {self.on_hand} on hand, {self.reserved} reserved, {self.held} held"

    @property
    def available(self) -> int:
        """What a sale at the till may take: neither reserved nor held."""
        return self.on_hand - self.reserved - self.held

    @property
    def available_to_promise(self) -> int:
        return max(0, self.available - self.safety_stock)


class StockMovement(models.Model):
    """Append-only ledger: one row per change of a stock level."""

    class Reason(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        CYCLE_COUNT = "cycle_count", "Cycle count"
        POS_SALE = "pos_sale", "In-store sale"
        RESERVE = "reserve", "Reserve"
        RELEASE = "release", "Release"
        FULFIL = "fulfil", "Fulfil (ship or hand over)"
        RETURN_RESTOCK = "return_restock", "Return restocked"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"
        WRITE_OFF = "write_off", "Write-off"
        # Into the hold (on hand, never promised) and back out of it: see services.holds.
        RETURN_RECEIVE = "return_receive", "Return received (held for inspection)"
        DAMAGED = "damaged", "Damaged (held)"
        NOT_FOUND = "not_found", "Not found (held until counted)"
        HOLD_REVERSAL = "hold_reversal", "Disposition reversed (held again)"
        # A setting, not a quantity: no delta; the note says from what to what, and why.
        SAFETY_STOCK = "safety_stock", "Safety stock set"

    # movement_pair_idx (location, sku, created_at) serves every lookup by location.
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Indexed: the admin's search by SKU code and a SKU's PROTECT check filter on it alone.
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    delta_on_hand = models.IntegerField(default=0)
    delta_reserved = models.IntegerField(default=0)
    delta_held = models.IntegerField(default=0, db_default=0)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # Not indexed: nothing looks a movement up by reference; the admin's search is a
    # case-insensitive contains, which no B-tree (nor the _like twin) can serve.
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=50, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    # Cycle counts only: when the shelf was counted (it may be recorded later).
    counted_at = models.DateTimeField(null=True, blank=True)
    # Indexed: the admin lists the ledger newest first (and by date) across every pair.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="stockmovement_source_external_id_uniq",
            ),
        ]
        indexes = [models.Index(fields=["location", "sku", "created_at"], name="movement_pair_idx")]

    def __str__(self) -> str:
        return (
            f"{self.get_reason_display()}: on hand {self.delta_on_hand:+d}, reserved "
            f"{self.delta_reserved:+d}, held {self.delta_held:+d} "
            f"(SKU {self.sku_id} at location {self.location_id})"
        )


class HoldDisposition(models.TextChoices):
    """What becomes of held units once inspected (`stock_hold_release`)."""

    RESTOCK = "restock", "Restock (available here)"
    WRITE_OFF = "write_off", "Write off"


class CountRequestStatus(models.TextChoices):
    OPEN = "open", "Count requested"
    COUNTED = "counted", "Counted"


class CountRequest(FSMModelMixin, TimeStampedModel):
    """A location is asked to count one SKU's shelf: units reported not found there are
    held (on hand, never promised) until the count is recorded, which settles them.

    Changed only by `inventory.services`: opened by `stock_hold_not_found` (or a rejected
    pick), settled by `stock_cycle_count`.
    """

    Status = CountRequestStatus

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(help_text="Units held as not found until counted.")
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=255, blank=True)
    status = FSMField(max_length=10, choices=Status.choices, default=Status.OPEN, protected=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    count = models.ForeignKey(
        "StockMovement", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The cycle count that settled it.",
    )  # fmt: skip

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="countrequest_quantity_gt_0")
        ]
        indexes = [
            models.Index(
                fields=["location", "sku"],
                name="countrequest_open_idx",
                condition=Q(status=CountRequestStatus.OPEN),
            )
        ]

    def __str__(self) -> str:
        return f"Count {self.sku_id}@{self.location_id}: {self.quantity} not found ({self.status})"

    @transition(field=status, source=Status.OPEN, target=Status.COUNTED)
    def settle(self) -> None:
        """The shelf was counted: the count replaced what was held as not found."""


class ReservationStatus(models.TextChoices):
    """Defined outside Reservation so its Meta (an index condition) can name a status."""

    ACTIVE = "active", "Active"
    CONSUMED = "consumed", "Consumed"
    RELEASED = "released", "Released"


class Reservation(FSMModelMixin, models.Model):
    """Stock held at one location for one line of demand (an opaque reference).

    Changed only by `inventory.services`: many rows at once by a conditional UPDATE or a
    bulk update after these transitions.
    """

    Status = ReservationStatus

    reference = models.CharField(max_length=100, db_index=True, help_text="The demand line.")
    demand = models.CharField(
        max_length=64, db_index=True, help_text="The demand the line belongs to (an order)."
    )
    # How the demand leaves this location (ship capacity counts SHIP and TRANSFER).
    delivery_method = models.CharField(max_length=20, blank=True, choices=DeliveryMethod.choices)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="reservations")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    status = FSMField(max_length=10, choices=Status.choices, default=Status.ACTIVE, protected=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="reservation_quantity_gte_0")
        ]
        indexes = [
            models.Index(
                fields=["location", "sku"],
                name="reservation_active_idx",
                condition=Q(status=ReservationStatus.ACTIVE),
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.sku_id}@{self.location_id}"
        return f"{self.quantity} x {where} for {self.reference} ({self.status})"

    @transition(field=status, source=Status.ACTIVE, target=Status.CONSUMED)
    def consume(self) -> None:
        """Its units left the location (shipped, handed over, sent on a transfer)."""

    @transition(field=status, source=Status.ACTIVE, target=Status.RELEASED)
    def release(self) -> None:
        """Its units went back to the shelf."""


class ShipDay(models.Model):
    """The ship orders a location took on one day: its ship capacity used. An order counts
    once per location and day, from its first ship reservation there (transfers out count
    too) until every one of them there is released; shipping it keeps the slot used."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    orders = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "day"], name="shipday_location_day_uniq"),
            models.CheckConstraint(condition=Q(orders__gte=0), name="shipday_orders_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.location_id} on {self.day}: {self.orders} ship orders"


class Transfer(FSMModelMixin, TimeStampedModel):
    """Stock on its way from one location to another: out at once, in on receipt."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        IN_TRANSIT = "in_transit", "In transit"
        RECEIVED = "received", "Received"
        DECLINED = "declined", "Declined"

    from_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    to_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    status = FSMField(
        max_length=12, choices=Status.choices, default=Status.IN_TRANSIT, protected=True
    )
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    received_at = models.DateTimeField(null=True, blank=True)
    # A standalone transfer: a location asked another for stock (none for an order's).
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    note = models.CharField(max_length=255, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="transfer_quantity_gt_0"),
            models.CheckConstraint(
                condition=~Q(from_location=F("to_location")), name="transfer_distinct_locations"
            ),
        ]

    def __str__(self) -> str:
        return f"Transfer {self.pk}: {self.quantity} x {self.sku_id} ({self.status})"

    @transition(field=status, source=Status.REQUESTED, target=Status.IN_TRANSIT)
    def ship(self) -> None:
        """The sender sent what was asked for."""

    @transition(field=status, source=Status.REQUESTED, target=Status.DECLINED)
    def decline(self) -> None:
        """The sender cannot send it."""

    @transition(field=status, source=Status.IN_TRANSIT, target=Status.RECEIVED)
    def receive(self) -> None:
        """Its units arrived at the destination."""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from common.models import TimeStampedModel
from inventory.models import DeliveryMethod, Reservation, Transfer
from orders.models import Order, OrderLine
from stores.models import Location

# The delivery methods a fulfillment order can have: a carry-out is fulfilled at the till.
FULFILLMENT_KINDS = (
    DeliveryMethod.SHIP,
    DeliveryMethod.PICKUP,
    DeliveryMethod.CURBSIDE,
    DeliveryMethod.TRANSFER,
)
FULFILLMENT_KIND_CHOICES = [(kind.value, kind.label) for kind in FULFILLMENT_KINDS]
# Kinds the customer collects at the store, against a pickup code.
COLLECTED_AT_STORE = (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE)


# At module level so that Meta (which cannot see the class body) names it in its indexes.
class FulfillmentOrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    PICKED = "picked", "Picked"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    RECEIVED = "received", "Received at the pickup store"
    READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
    PICKED_UP = "picked_up", "Picked up"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class FulfillmentOrder(FSMModelMixin, TimeStampedModel):
    """The part of an order one location fulfils: picked, packed and shipped, or handed over."""

    Status = FulfillmentOrderStatus

    class RejectReason(models.TextChoices):
        NOT_FOUND = "not_found", "Not found on shelf"
        DAMAGED = "damaged", "Damaged"
        NO_CAPACITY = "no_capacity", "No capacity"
        SLA_EXPIRED = "sla_expired", "Not accepted in time"
        OTHER = "other", "Other"

    OPEN = (Status.PENDING, Status.ACCEPTED, Status.PICKED, Status.PACKED, Status.READY_FOR_PICKUP)
    # A transfer to a pickup store is on its way until the store receives it.
    INBOUND = (Status.PENDING, Status.ACCEPTED, Status.PICKED, Status.PACKED, Status.SHIPPED)

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fulfillment_orders")
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="fulfillment_orders"
    )
    kind = models.CharField(max_length=10, choices=FULFILLMENT_KIND_CHOICES)
    destination = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="inbound_transfers",
        help_text="The pickup store a transfer goes to.",
    )  # fmt: skip
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    rerouted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reroutes"
    )
    routing = models.JSONField(default=dict, blank=True)
    accept_by = models.DateTimeField(
        null=True, blank=True, help_text="The location's SLA, counted in its opening hours."
    )
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When its managers were told it was not accepted."
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    pickup_deadline = models.DateTimeField(null=True, blank=True)
    pickup_code_hash = models.CharField(max_length=64, blank=True)
    pickup_code_failures = models.PositiveSmallIntegerField(default=0)
    # Which ready email may issue the code: a resend supersedes one still on its way.
    pickup_code_round = models.PositiveSmallIntegerField(default=0)
    customer_arrived_at = models.DateTimeField(null=True, blank=True)
    parking_spot = models.CharField(max_length=40, blank=True)
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=20, choices=RejectReason.choices, blank=True)
    rejection_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["location", "status"], name="fo_location_status_idx"),
            models.Index(
                fields=["accept_by"],
                name="fo_pending_accept_by_idx",
                condition=Q(status=FulfillmentOrderStatus.PENDING),
            ),
            models.Index(
                fields=["pickup_deadline"],
                name="fo_ready_deadline_idx",
                condition=Q(status=FulfillmentOrderStatus.READY_FOR_PICKUP),
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Fulfillment order {self.pk} of order {self.order.number} at {self.location.code} "
            f"({self.get_status_display().lower()})"
        )

    def is_collected_at_store(self) -> bool:
        """The customer collects it at the store (pickup or curbside) against a code."""
        return self.kind in COLLECTED_AT_STORE

    def is_shipment(self) -> bool:
        """Packed and handed to a carrier: to the customer, or to the pickup store."""
        return self.kind in (DeliveryMethod.SHIP, DeliveryMethod.TRANSFER)

    def is_transfer(self) -> bool:
        return self.kind == DeliveryMethod.TRANSFER

    # Pure state changes; the services in fulfillment.services do the work around them.
    @transition(
        field=status,
        source=Status.PENDING,
        target=Status.ACCEPTED,
        custom={"label": "Accept", "help_text": "Take this order on: the store will prepare it."},
    )
    def accept(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.ACCEPTED,
        target=Status.PICKED,
        custom={"label": "Picked", "help_text": "Every item is taken from the shelf."},
    )
    def pick(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.PICKED,
        target=Status.PACKED,
        conditions=[is_shipment],
        custom={"label": "Packed", "help_text": "Packed and ready for the carrier."},
    )
    def pack(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.PACKED,
        target=Status.SHIPPED,
        conditions=[is_shipment],
        custom={"label": "Ship…", "help_text": "Hand to the carrier with its tracking number."},
    )
    def ship(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.SHIPPED,
        target=Status.RECEIVED,
        conditions=[is_transfer],
        custom={
            "label": "Receive",
            "help_text": "Arrived at the pickup store, where its items wait for the customer.",
        },
    )
    def receive(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.PICKED, Status.PACKED],
        target=Status.READY_FOR_PICKUP,
        conditions=[is_collected_at_store],
        custom={
            "label": "Ready for pickup",
            "help_text": "Ready at the counter: the customer gets a pickup code.",
        },
    )
    def ready(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.READY_FOR_PICKUP,
        target=Status.PICKED_UP,
        custom={
            "label": "Hand over…",
            "help_text": "Give the goods to the customer against the pickup code.",
        },
    )
    def handover(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.PENDING, Status.ACCEPTED, Status.PICKED],
        target=Status.REJECTED,
        custom={
            "label": "Reject…",
            "help_text": (
                "This location cannot do it. A shipment or transfer is sent to another "
                "location; a pickup or curbside order is cancelled and the customer refunded."
            ),
        },
    )
    def reject(self) -> None:
        pass

    @transition(
        field=status,
        source=list(OPEN),
        target=Status.CANCELLED,
        custom={"label": "Cancel", "help_text": "Cancel this fulfillment order."},
    )
    def cancel(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.READY_FOR_PICKUP,
        target=Status.EXPIRED,
        custom={"label": "Expire", "help_text": "Not collected in time."},
    )
    def expire(self) -> None:
        pass


class FulfillmentOrderLine(models.Model):
    """Units of one order line that one location fulfils, held by one reservation there."""

    fulfillment_order = models.ForeignKey(
        FulfillmentOrder, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="+")
    reservation = models.OneToOneField(
        Reservation, on_delete=models.PROTECT, related_name="fulfillment_line"
    )
    quantity = models.PositiveIntegerField()
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="fulfillment_line"
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.order_line_id}"

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from common.models import Channel, TimeStampedModel
from customers.models import Customer
from inventory.models import DeliveryMethod, Sku
from orders.references import LineReference
from stores.models import Location

# How an order reaches its customer: every delivery method but the transfer, which moves
# units between locations for an order and is never one itself.
ORDER_DELIVERY_METHODS = [
    (value, label) for value, label in DeliveryMethod.choices if value != DeliveryMethod.TRANSFER
]


# At module level so that Meta (which cannot see the class body) names it in its indexes.
class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    PROCESSING = "processing", "Processing"
    PARTIALLY_FULFILLED = "partially_fulfilled", "Partially fulfilled"
    FULFILLED = "fulfilled", "Fulfilled"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class Order(FSMModelMixin, TimeStampedModel):
    Status = OrderStatus

    class ReturnStatus(models.TextChoices):
        NONE = "none", "None"
        PARTIALLY_RETURNED = "partially_returned", "Partially returned"
        RETURNED = "returned", "Returned"

    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    store = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The store where a store-channel order was taken.",
    )  # fmt: skip
    delivery_method = models.CharField(max_length=10, choices=ORDER_DELIVERY_METHODS)
    pickup_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="pickup_orders"
    )
    shipping_address = models.JSONField(default=dict, blank=True)
    ship_to_store = models.BooleanField(
        default=False, help_text="Some items are sent to the pickup store before it is ready."
    )
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    grand_total = models.DecimalField(max_digits=12, decimal_places=2)
    discounts = models.JSONField(
        default=list, blank=True, help_text="Order-level discounts as given: code and amount."
    )
    status = FSMField(default=Status.PLACED, choices=Status.choices, protected=True)
    return_status = FSMField(
        max_length=20, choices=ReturnStatus.choices, default=ReturnStatus.NONE, protected=True
    )
    routing = models.JSONField(default=dict, blank=True, help_text="The routing decision.")
    fulfilled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the order became fulfilled: its return window opens."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_idx"),
            # The orders waiting for their return window to close.
            models.Index(
                fields=["fulfilled_at"],
                name="order_fulfilled_at_idx",
                condition=Q(status=OrderStatus.FULFILLED),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    # Transitions are pure state changes; services do the work around them.
    @transition(field=status, source=Status.PLACED, target=Status.PROCESSING)
    def start_processing(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.PROCESSING, Status.PARTIALLY_FULFILLED],
        target=Status.PARTIALLY_FULFILLED,
    )
    def fulfil_partially(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.PLACED, Status.PROCESSING, Status.PARTIALLY_FULFILLED],
        target=Status.FULFILLED,
    )
    def fulfil(self) -> None:
        pass

    @transition(field=status, source=Status.FULFILLED, target=Status.CLOSED)
    def close(self) -> None:
        pass

    @transition(field=status, source=[Status.PLACED, Status.PROCESSING], target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    # Returns never rewind the fulfilment history above: they have their own status.
    @transition(field=return_status, source="*", target=ReturnStatus.PARTIALLY_RETURNED)
    def return_partially(self) -> None:
        pass

    @transition(
        field=return_status,
        source=[ReturnStatus.NONE, ReturnStatus.PARTIALLY_RETURNED],
        target=ReturnStatus.RETURNED,
    )
    def return_fully(self) -> None:
        pass

    @transition(
        field=return_status,
        source=[ReturnStatus.PARTIALLY_RETURNED, ReturnStatus.RETURNED],
        target=ReturnStatus.NONE,
    )
    def return_undone(self) -> None:
        """Units received back were handed back to the customer (a rejected return)."""


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_discount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, help_text="The line's own discount."
    )
    order_discount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0,
        help_text="The line's share of the order-level discounts.",
    )  # fmt: skip
    # What each unit pays, discounts spread: the first `units_paid_extra` units one cent
    # more than `unit_paid` (see orders.services.pricing), so any units have an exact price.
    unit_paid = models.DecimalField(max_digits=12, decimal_places=2)
    units_paid_extra = models.PositiveIntegerField(default=0)
    quantity_cancelled = models.PositiveIntegerField(default=0)
    quantity_fulfilled = models.PositiveIntegerField(default=0)
    quantity_returned = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_gte_1"),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("quantity_cancelled") + F("quantity_fulfilled")),
                name="orderline_cancelled_fulfilled_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(quantity_returned__lte=F("quantity_fulfilled")),
                name="orderline_returned_within_fulfilled",
            ),
            models.CheckConstraint(
                condition=Q(
                    line_discount__gte=0,
                    order_discount__gte=0,
                    unit_paid__gte=0,
                    unit_paid__lte=F("unit_price"),
                    units_paid_extra__lt=F("quantity"),
                ),
                name="orderline_paid_within_price",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku_code}"

    @property
    def quantity_open(self) -> int:
        return self.quantity - self.quantity_cancelled - self.quantity_fulfilled

    @property
    def reservation_reference(self) -> str:
        """How the line's reservations (and later its payments) know it."""
        return str(LineReference(number=self.order.number, line_id=self.pk))


class OrderEvent(models.Model):
    """The order's timeline: append-only."""

    class Kind(models.TextChoices):
        PLACED = "placed", "Placed"
        ROUTED = "routed", "Routed"
        RESERVED = "reserved", "Reserved"
        STATUS_CHANGED = "status_changed", "Status changed"
        CANCELLED = "cancelled", "Cancelled"
        LINE_CANCELLED = "line_cancelled", "Line cancelled"
        FULFILLED = "fulfilled", "Fulfilled"
        RELEASED = "released", "Released to location"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        REROUTED = "rerouted", "Re-routed"
        PICKED = "picked", "Picked"
        PACKED = "packed", "Packed"
        SHIPPED = "shipped", "Shipped"
        TRANSFER_SHIPPED = "transfer_shipped", "Sent to the pickup store"
        TRANSFER_RECEIVED = "transfer_received", "Received at the pickup store"
        READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
        PICKUP_CODE_RESENT = "pickup_code_resent", "Pickup code sent again"
        CUSTOMER_ARRIVED = "customer_arrived", "Customer arrived"
        HANDED_OVER = "handed_over", "Handed over"
        EXPIRED = "expired", "Pickup expired"
        NOTIFIED = "notified", "Customer notified"
        RETURN_REQUESTED = "return_requested", "Return requested"
        RETURN_RECEIVED = "return_received", "Return received"
        RETURN_INSPECTED = "return_inspected", "Return inspected"
        RETURN_REJECTED = "return_rejected", "Return rejected"
        RETURN_CANCELLED = "return_cancelled", "Return cancelled"
        RETURN_COMPLETED = "return_completed", "Return completed"
        RETURN_EXCHANGED = "return_exchanged", "Exchanged"
        RETURN_CODE_REFUSED = "return_code_refused", "Wrong return code"
        RETURN_CODE_UNLOCKED = "return_code_unlocked", "Return code tries reset"
        REFUNDED = "refunded", "Refunded"
        PAYMENT_CAPTURED = "payment_captured", "Payment captured"
        PAYMENT_VOIDED = "payment_voided", "Authorization released"
        CUSTOMER_MERGED = "customer_merged", "Customer merged"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"

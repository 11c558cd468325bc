"""Returns: an RMA of an order, its lines, what inspection found and what was done with them.

Status changes only through `returns.services`; the goods through inventory's hold, the
money through payments' refunds, the order through `orders.services.returns`.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from common.models import TimeStampedModel
from customers.models import Customer
from inventory.models import Sku
from orders.models import Order, OrderLine
from stores.models import Location

MONEY = {"max_digits": 12, "decimal_places": 2}


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


class Condition(models.TextChoices):
    RESALABLE = "resalable", "Resalable"
    DAMAGED = "damaged", "Damaged"
    DEFECTIVE = "defective", "Defective"
    MISSING = "missing", "Missing (not in the parcel)"


class Disposition(models.TextChoices):
    RESTOCK = "restock", "Restock here (available at once)"
    WRITE_OFF = "write_off", "Write off"
    TRANSFER = "transfer", "Transfer to another location"


class Return(FSMModelMixin, TimeStampedModel):
    """One return of an order (an RMA), opened online or at a store's counter."""

    Status = ReturnStatus
    OPEN = (ReturnStatus.REQUESTED, ReturnStatus.RECEIVED, ReturnStatus.INSPECTED)

    rma = models.CharField(max_length=20, unique=True)
    code = models.CharField(
        max_length=8, unique=True, help_text="The short code the customer shows at the counter."
    )
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="returns")
    opened_at = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The store where it was opened at the counter; blank: opened online.",
    )  # fmt: skip
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="returns",
        help_text="The location that received the goods.",
    )  # fmt: skip
    status = FSMField(default=ReturnStatus.REQUESTED, choices=ReturnStatus.choices, protected=True)
    reject_reason = models.CharField(max_length=255, blank=True)
    refund_total = models.DecimalField(**MONEY, default=0, help_text="Refunds issued so far.")
    shipping_refunded = models.DecimalField(**MONEY, default=0)
    # How many refunds were issued: each under its own key (an inspection corrected upward
    # refunds the difference under the next one).
    refund_rounds = models.PositiveSmallIntegerField(default=0)
    exchange_order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="exchange_for",
        help_text="The new order the exchanged units became.",
    )  # fmt: skip
    exchange_surplus = models.DecimalField(
        **MONEY, default=0, help_text="What exchanged units paid beyond the new goods: refunded."
    )
    # Wrong codes typed for this return since the last right one (returns.services.codes);
    # at OMS_RETURN_CODE_MAX_FAILURES the code is refused until `code_locked_until`.
    code_failures = models.PositiveSmallIntegerField(default=0)
    code_locked_until = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["location", "status"], name="return_location_status_idx"),
            models.Index(fields=["customer", "-created_at"], name="return_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.rma

    @property
    def opened_online(self) -> bool:
        return self.opened_at_id is None

    # Pure state changes; returns.services does the work around them.
    @transition(field=status, source=ReturnStatus.REQUESTED, target=ReturnStatus.RECEIVED)
    def receive(self) -> None:
        pass

    @transition(
        field=status,
        source=[ReturnStatus.RECEIVED, ReturnStatus.INSPECTED],
        target=ReturnStatus.INSPECTED,
    )
    def inspect(self) -> None:
        pass

    @transition(field=status, source=ReturnStatus.INSPECTED, target=ReturnStatus.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(
        field=status,
        source=ReturnStatus.REQUESTED,
        target=ReturnStatus.CANCELLED,
        conditions=[lambda r: r.refund_total == 0],
    )
    def cancel(self) -> None:
        pass

    @transition(
        field=status,
        source=[ReturnStatus.REQUESTED, ReturnStatus.RECEIVED],
        target=ReturnStatus.REJECTED,
        # Nothing refunded, nothing exchanged: the goods can simply be handed back.
        conditions=[lambda r: r.refund_total == 0 and r.exchange_order_id is None],
    )
    def reject(self) -> None:
        pass


class ReturnLine(models.Model):
    """Units of one order line in a return, and what inspection made of them."""

    Condition = Condition
    Disposition = Disposition

    return_order = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    reason = models.CharField(max_length=40, help_text="One of OMS_RETURN_REASONS.")
    note = models.CharField(max_length=255, blank=True, help_text="The customer's own words.")
    condition = models.CharField(max_length=20, choices=Condition.choices, blank=True)
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    target_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Where a transfer sends the units.",
    )  # fmt: skip
    # What the goods went through, as applied (a corrected inspection undoes it first).
    applied_disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    applied_target = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit_paid = models.DecimalField(
        **MONEY, default=0, help_text="What the returned units paid, in all."
    )
    fee = models.DecimalField(**MONEY, default=0, help_text="The restocking fee, in all.")
    refund_amount = models.DecimalField(**MONEY, default=0, help_text="What it refunds.")
    exchanged = models.PositiveIntegerField(
        default=0, help_text="Units swapped for others rather than refunded."
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="returnline_quantity_gte_1"),
            models.CheckConstraint(
                condition=Q(exchanged__lte=models.F("quantity")),
                name="returnline_exchanged_within_quantity",
            ),
            models.UniqueConstraint(
                fields=["return_order", "order_line"], name="returnline_one_per_order_line"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku.code}"


class ReturnExchange(models.Model):
    """A returned unit's replacement: another SKU or size, given at the receiving store."""

    return_order = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="exchanges")
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, related_name="+", help_text="The line swapped."
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku.code} for line {self.order_line_id}"

"""Payments: the tenders of a demand and their ledger.

A demand (an order, an exchange) is known here only as an opaque reference string. Every
amount of a `Payment` is the sum of its succeeded `PaymentTransaction` rows (void takes
back authorization); `payments.selectors.payment_breaches` checks it.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from common.models import TimeStampedModel

MONEY = {"max_digits": 12, "decimal_places": 2}
ZERO = Decimal("0.00")


class Payment(FSMModelMixin, TimeStampedModel):
    """One tender of a demand. Amounts change only through `payments.services`."""

    class Method(models.TextChoices):
        NOT_GIVEN = "", "Not given yet"
        CARD = "card", "Card (through a gateway)"
        GIFT_CARD = "gift_card", "Gift card (through a gateway)"
        CARD_PRESENT = "card_present", "Card at the till"
        CASH = "cash", "Cash at the till"
        POINTS = "points", "Loyalty points"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (no tender yet)"
        AUTHORIZED = "authorized", "Authorized"
        CAPTURED = "captured", "Captured (some or all)"
        REFUNDED = "refunded", "Refunded"
        VOIDED = "voided", "Voided"

    demand = models.CharField(max_length=64, db_index=True, help_text="The demand (an order).")
    method = models.CharField(max_length=20, choices=Method.choices, blank=True)
    gateway = models.CharField(max_length=50, blank=True, help_text="Blank at the till.")
    reference = models.CharField(
        max_length=255, blank=True, help_text="The gateway's authorisation reference."
    )
    amount = models.DecimalField(**MONEY, help_text="What this tender is to pay.")
    points = models.PositiveIntegerField(
        default=0, help_text="A points tender: how many loyalty points pay its amount."
    )
    currency = models.CharField(max_length=3)
    authorized = models.DecimalField(**MONEY, default=ZERO)
    captured = models.DecimalField(**MONEY, default=ZERO)
    refunded = models.DecimalField(**MONEY, default=ZERO)
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_gte_0"),
            models.CheckConstraint(condition=Q(authorized__gte=0), name="payment_authorized_gte_0"),
            models.CheckConstraint(
                condition=Q(captured__gte=0, captured__lte=F("authorized")),
                name="payment_captured_within_authorized",
            ),
            models.CheckConstraint(
                condition=Q(refunded__gte=0, refunded__lte=F("captured")),
                name="payment_refunded_within_captured",
            ),
        ]

    def __str__(self) -> str:
        method = self.get_method_display() if self.method else "unpaid"
        return f"{self.demand}: {method} {self.amount} {self.currency} ({self.status})"

    @property
    def at_till(self) -> bool:
        """Taken at the till: no gateway to call, captured at once."""
        return self.method in (self.Method.CASH, self.Method.CARD_PRESENT)

    def _nothing_open(self) -> bool:
        return self.captured == self.authorized

    @transition(field=status, source=Status.PENDING, target=Status.AUTHORIZED)
    def authorize(self) -> None:
        """An authorization succeeded (the storefront's, or the till's)."""

    @transition(field=status, source=[Status.AUTHORIZED, Status.CAPTURED], target=Status.CAPTURED)
    def capture(self) -> None:
        """A capture succeeded."""

    @transition(
        field=status,
        source=[Status.PENDING, Status.AUTHORIZED],
        target=Status.VOIDED,
        conditions=[lambda p: p.captured == ZERO and p.authorized == ZERO],
    )
    def void(self) -> None:
        """Nothing was captured and nothing is authorized any more."""

    @transition(
        field=status,
        source=Status.CAPTURED,
        target=Status.REFUNDED,
        conditions=[lambda p: p.refunded == p.captured and p._nothing_open()],
    )
    def refund(self) -> None:
        """Everything captured went back and nothing is left to capture."""


# At module level so that Meta (which cannot see the class body) names them in its indexes
# and constraints; the dummy gateway's records name the same operations.
class TransactionKind(models.TextChoices):
    AUTHORIZE = "authorize", "Authorize"
    CAPTURE = "capture", "Capture"
    VOID = "void", "Void"
    REFUND = "refund", "Refund"


class TransactionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TransactionErrorCode(models.TextChoices):
    NONE = "", "None"
    DECLINED = "declined", "Declined by the gateway"
    UNAVAILABLE = "unavailable", "Gateway unavailable or timed out"


# The rows whose amount is held on their payment: still on their way to the gateway, or
# failed without the gateway saying no (unreachable, timed out: it may have done the work).
# Only a success (counted in the payment's amounts) or a decline lets the amount go.
HELD = Q(status=TransactionStatus.PENDING) | Q(
    status=TransactionStatus.FAILED, error_code=TransactionErrorCode.UNAVAILABLE
)


class PaymentTransaction(FSMModelMixin, TimeStampedModel):
    """One entry of a payment's ledger. Written `pending` before the gateway is called."""

    Kind = TransactionKind
    Status = TransactionStatus
    ErrorCode = TransactionErrorCode

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    gateway_reference = models.CharField(max_length=255, blank=True)
    # The caller's key (a fulfillment order's id for a capture, a return's for a refund):
    # the same key twice is the same transaction.
    idempotency_key = models.CharField(max_length=100, blank=True)
    # Bumped when a declined transaction is tried again: the gateway remembers its decline
    # under the old key, and a decline is final there, so a new key cannot double it.
    attempt = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=20, choices=ErrorCode.choices, blank=True)
    error = models.TextField(blank=True)
    # The member of staff who last sent it to the gateway by hand (a retry); none when the
    # system wrote and sent it.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="paymenttx_amount_gte_0"),
            models.UniqueConstraint(
                fields=["payment", "kind", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="paymenttx_key_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["payment", "kind"], name="paymenttx_held_idx", condition=HELD)
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} of payment {self.payment_id} ({self.status})"

    @property
    def outcome_unknown(self) -> bool:
        """Failed without a known answer: the gateway may have done it."""
        return self.status == self.Status.FAILED and self.error_code == self.ErrorCode.UNAVAILABLE

    @property
    def gateway_key(self) -> str:
        """The idempotency key the gateway sees: this row's id (and its retry round)."""
        return str(self.pk) if not self.attempt else f"{self.pk}.{self.attempt}"

    @transition(field=status, source=Status.PENDING, target=Status.SUCCEEDED)
    def succeed(self) -> None:
        """The gateway (or the till) did it. Final."""

    @transition(field=status, source=Status.PENDING, target=Status.FAILED)
    def fail(self) -> None:
        """The gateway declined, or stayed unreachable after every retry."""

    @transition(field=status, source=Status.FAILED, target=Status.PENDING)
    def retry(self) -> None:
        """A person asked for another try."""


class DummyCallOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    TIMED_OUT = "timed_out", "Succeeded, but the caller saw a timeout"
    DECLINED = "declined", "Declined"
    UNAVAILABLE = "unavailable", "Unavailable (nothing done)"
    REPLAYED = "replayed", "Replayed (a repeated key: the first result again)"


# What the dummy gateway did (money moved); what it decided (its first answer to a key).
DUMMY_EFFECTIVE = (DummyCallOutcome.SUCCEEDED, DummyCallOutcome.TIMED_OUT)
DUMMY_DECIDED = (*DUMMY_EFFECTIVE, DummyCallOutcome.DECLINED)


class DummyGatewayCall(models.Model):
    """Every call that reached the dummy gateway, as that gateway's own records."""

    Outcome = DummyCallOutcome
    EFFECTIVE = DUMMY_EFFECTIVE
    DECIDED = DUMMY_DECIDED

    operation = models.CharField(max_length=10, choices=TransactionKind.choices)
    key = models.CharField(max_length=100)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=255, blank=True, help_text="What the call was about.")
    result = models.CharField(max_length=255, blank=True, help_text="The reference returned.")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # One decided call per key: a concurrent repeat becomes a replay.
            models.UniqueConstraint(
                fields=["operation", "key"],
                condition=Q(outcome__in=DUMMY_DECIDED),
                name="dummycall_decided_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.key}: {self.outcome}"


class DummyGatewayRule(models.Model):
    """Tells the dummy gateway to misbehave (tests and demos set these)."""

    class Behaviour(models.TextChoices):
        FAIL = "fail", "Fail (unavailable, nothing done)"
        TIMEOUT = "timeout", "Time out after succeeding"
        DECLINE = "decline", "Decline"
        SLOW = "slow", "Succeed, then answer only after `seconds`"

    behaviour = models.CharField(max_length=10, choices=Behaviour.choices)
    operation = models.CharField(
        max_length=10,
        choices=TransactionKind.choices,
        blank=True,
        help_text="Blank: every operation.",
    )
    reference = models.CharField(max_length=255, blank=True, help_text="Blank: every reference.")
    remaining = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many calls it applies to; blank: until deleted."
    )
    seconds = models.PositiveIntegerField(default=0, help_text="How long a slow answer takes.")

    def __str__(self) -> str:
        return f"{self.behaviour} {self.operation or '*'} {self.reference or '*'}"

from django.contrib import admin, messages

from common.errors import DomainError
from payments.models import DummyGatewayCall, DummyGatewayRule, Payment, PaymentTransaction
from payments.services import capture_retry, refund_retry, void_retry

Kind = PaymentTransaction.Kind
# What the admin's retry button does for each kind of failed transaction.
RETRIES = {Kind.CAPTURE: capture_retry, Kind.VOID: void_retry, Kind.REFUND: refund_retry}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money is changed by services only: the admin shows it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PaymentTransactionInline(admin.TabularInline):
    model = PaymentTransaction
    extra = 0
    can_delete = False
    fields = [
        "id", "kind", "amount", "status", "gateway_reference", "idempotency_key", "attempt",
        "reason", "error_code", "error", "actor", "created_at", "updated_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _retry(model_admin, request, transactions, *, noun: str = "refund") -> None:
    retried = 0
    for tx in transactions:
        try:
            RETRIES[tx.kind](transaction=tx, actor=request.user)
        except DomainError as exc:
            label = tx.get_kind_display()
            model_admin.message_user(request, f"{label} {tx.pk}: {exc.detail}", messages.WARNING)
        else:
            retried += 1
    model_admin.message_user(request, f"{retried} {noun}(s) sent to the gateway again.")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "demand", "method", "gateway", "amount", "currency", "authorized", "captured",
        "refunded", "status", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "method", "gateway", "currency"]
    search_fields = ["demand", "reference"]
    inlines = [PaymentTransactionInline]
    actions = ["retry_failed_refunds"]

    @admin.action(description="Retry the failed refunds of the selected payments")
    def retry_failed_refunds(self, request, queryset):
        _retry(self, request, _failed_refunds().filter(payment__in=queryset))


def _failed(*kinds: str):
    return PaymentTransaction.objects.filter(
        kind__in=kinds, status=PaymentTransaction.Status.FAILED
    ).select_related("payment")


def _failed_refunds():
    return _failed(Kind.REFUND)


class FailedTransactionFilter(admin.SimpleListFilter):
    title = "needs a person"
    parameter_name = "attention"
    KINDS = {
        "failed_refunds": Kind.REFUND,
        "failed_captures": Kind.CAPTURE,
        "failed_voids": Kind.VOID,
    }

    def lookups(self, request, model_admin):
        return [
            ("failed_refunds", "Failed refunds"),
            ("failed_captures", "Failed captures"),
            ("failed_voids", "Failed voids"),
        ]

    def queryset(self, request, queryset):
        kind = self.KINDS.get(self.value())
        if kind:
            return queryset.filter(kind=kind, status=PaymentTransaction.Status.FAILED)
        return queryset


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "payment", "kind", "amount", "status", "error_code", "gateway_reference",
        "idempotency_key", "created_at",
    ]  # fmt: skip
    list_filter = [FailedTransactionFilter, "kind", "status", "error_code"]
    search_fields = ["payment__demand", "gateway_reference", "idempotency_key"]
    list_select_related = ["payment"]
    actions = ["retry"]

    @admin.action(description="Retry (failed captures, voids and refunds)")
    def retry(self, request, queryset):
        failed = _failed(*RETRIES).filter(pk__in=queryset.values("pk"))
        kinds = set(failed.values_list("kind", flat=True))
        noun = f"{kinds.pop()}" if len(kinds) == 1 else "transaction"
        _retry(self, request, failed, noun=noun)


@admin.register(DummyGatewayCall)
class DummyGatewayCallAdmin(ReadOnlyAdmin):
    list_display = ["id", "operation", "key", "amount", "currency", "reference", "outcome"]
    list_filter = ["operation", "outcome"]
    search_fields = ["key", "reference"]


@admin.register(DummyGatewayRule)
class DummyGatewayRuleAdmin(admin.ModelAdmin):
    list_display = ["id", "behaviour", "operation", "reference", "remaining"]

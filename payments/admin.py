from django.contrib import admin, messages

from common.errors import DomainError
from payments.models import DummyGatewayCall, DummyGatewayRule, Payment, PaymentTransaction
from payments.services import refund_retry


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
        "reason", "error_code", "error", "created_at", "updated_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _retry(model_admin, request, transactions) -> None:
    retried = 0
    for tx in transactions:
        try:
            refund_retry(transaction=tx)
        except DomainError as exc:
            model_admin.message_user(request, f"Refund {tx.pk}: {exc.detail}", messages.WARNING)
        else:
            retried += 1
    model_admin.message_user(request, f"{retried} refund(s) sent to the gateway again.")


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


def _failed_refunds():
    return PaymentTransaction.objects.filter(
        kind=PaymentTransaction.Kind.REFUND, status=PaymentTransaction.Status.FAILED
    ).select_related("payment")


class FailedRefundFilter(admin.SimpleListFilter):
    title = "needs a person"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("failed_refunds", "Failed refunds")]

    def queryset(self, request, queryset):
        if self.value() == "failed_refunds":
            return queryset.filter(
                kind=PaymentTransaction.Kind.REFUND, status=PaymentTransaction.Status.FAILED
            )
        return queryset


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "payment", "kind", "amount", "status", "error_code", "gateway_reference",
        "idempotency_key", "created_at",
    ]  # fmt: skip
    list_filter = [FailedRefundFilter, "kind", "status", "error_code"]
    search_fields = ["payment__demand", "gateway_reference", "idempotency_key"]
    list_select_related = ["payment"]
    actions = ["retry"]

    @admin.action(description="Retry (failed refunds)")
    def retry(self, request, queryset):
        _retry(self, request, queryset.filter(pk__in=_failed_refunds().values("pk")))


@admin.register(DummyGatewayCall)
class DummyGatewayCallAdmin(ReadOnlyAdmin):
    list_display = ["id", "operation", "key", "amount", "currency", "reference", "outcome"]
    list_filter = ["operation", "outcome"]
    search_fields = ["key", "reference"]


@admin.register(DummyGatewayRule)
class DummyGatewayRuleAdmin(admin.ModelAdmin):
    list_display = ["id", "behaviour", "operation", "reference", "remaining"]

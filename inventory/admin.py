from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from common.errors import DomainError
from inventory import services
from inventory.models import CountRequest, Reservation, Sku, StockLevel, StockMovement, Transfer
from stores.admin import LocationScopedAdminMixin

Reason = StockMovement.Reason
STAFF_REASONS = [
    (Reason.RECEIPT, "Receipt (+)"),
    (Reason.ADJUSTMENT, "Adjustment (signed)"),
    (Reason.CYCLE_COUNT, "Cycle count (counted quantity)"),
    (Reason.WRITE_OFF, "Write-off (-)"),
    (Reason.DAMAGED, "Damaged: into the hold, no longer promised (held +)"),
    (Reason.RETURN_RESTOCK, "Held units inspected: back on the shelf (held -)"),
]


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "barcode", "price", "currency", "is_active"]
    list_filter = ["is_active", "currency"]
    search_fields = ["code", "name", "barcode"]


class ReadOnlyAdminMixin:
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HeldFilter(admin.SimpleListFilter):
    title = "held units"
    parameter_name = "held"

    def lookups(self, request, model_admin):
        return [("yes", "Some held"), ("no", "None held")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(held__gt=0)
        if self.value() == "no":
            return queryset.filter(held=0)
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: stock changes only as movements with a reason. Held units (returns
    awaiting inspection, damaged, not found until counted) are on hand, never available."""

    list_display = [
        "location", "sku", "on_hand", "reserved", "held", "safety_stock", "available",
    ]  # fmt: skip
    list_filter = [HeldFilter, "location__kind", "location"]
    search_fields = ["sku__code", "sku__name", "location__code"]
    list_select_related = ["location", "sku"]

    @admin.display(description="available")
    def available(self, obj: StockLevel) -> int:
        return obj.available


class MovementForm(forms.ModelForm):
    reason = forms.ChoiceField(choices=STAFF_REASONS)
    quantity = forms.IntegerField(help_text="Units received, the signed change, or the count.")
    from_hold = forms.BooleanField(
        required=False,
        label="Write off held units",
        help_text="With a write-off: the units come out of the hold (inspected, not sellable).",
    )

    class Meta:
        model = StockMovement
        fields = ["location", "sku", "reason", "quantity", "from_hold", "note"]


@admin.register(StockMovement)
class StockMovementAdmin(LocationScopedAdminMixin, admin.ModelAdmin):
    """The ledger. Adding a movement calls the same services as the API."""

    list_display = [
        "created_at", "location", "sku", "reason", "delta_on_hand", "delta_reserved",
        "delta_held", "reference", "actor",
    ]  # fmt: skip
    list_filter = ["reason", "location__kind", "location"]
    search_fields = ["sku__code", "reference", "external_id", "location__code"]
    list_select_related = ["location", "sku", "actor"]
    autocomplete_fields = ["sku"]
    form = MovementForm
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "location":
            kwargs["queryset"] = self.allowed_locations(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not self.allowed_locations(request).filter(pk=data["location"].pk).exists():
            raise PermissionDenied
        try:
            movement = self._record(request, data)
        except DomainError as exc:
            request.movement_error = exc  # per request: admin instances are shared
            return
        obj.pk = movement.pk

    @staticmethod
    def _record(request, data: dict) -> StockMovement:
        """Through the service for what staff recorded: the hold's, or a plain movement's."""
        at = {"location": data["location"], "sku": data["sku"], "quantity": data["quantity"]}
        who = {"actor": request.user, "note": data["note"], "reference": ""}
        reason = data["reason"]
        if reason == Reason.DAMAGED:
            return services.stock_hold_damaged(**at, **who)
        if reason == Reason.RETURN_RESTOCK:
            return services.stock_hold_release(
                **at, disposition=services.HoldDisposition.RESTOCK, **who
            )
        if reason == Reason.WRITE_OFF and data.get("from_hold"):
            return services.stock_hold_release(
                **at, disposition=services.HoldDisposition.WRITE_OFF, **who
            )
        return services.stock_movement_record(
            **at,
            reason=reason,
            origin=services.MovementOrigin(actor=request.user, note=data["note"]),
        )

    def log_addition(self, request, obj, message):
        if getattr(request, "movement_error", None) is not None:
            return None  # nothing was recorded, so nothing was added
        return super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        error = getattr(request, "movement_error", None)
        if error is not None:
            self.message_user(request, f"Not recorded: {error.detail}", messages.ERROR)
            return redirect(request.path)
        return super().response_add(request, obj, post_url_continue)


@admin.register(CountRequest)
class CountRequestAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shelves to count: units reported not found there are held until the count is
    recorded (a cycle count movement), which settles every request opened before it."""

    list_display = [
        "created_at", "location", "sku", "quantity", "status", "reference", "record_count",
    ]  # fmt: skip
    list_filter = ["status", "location"]
    search_fields = ["sku__code", "reference", "location__code"]
    list_select_related = ["location", "sku"]

    @admin.display(description="count")
    def record_count(self, obj: CountRequest) -> str:
        if obj.status != CountRequest.Status.OPEN:
            return f"counted {obj.counted_at:%Y-%m-%d %H:%M}" if obj.counted_at else "counted"
        query = urlencode(
            {"location": obj.location_id, "sku": obj.sku_id, "reason": Reason.CYCLE_COUNT}
        )
        url = f"{reverse('admin:inventory_stockmovement_add')}?{query}"
        return format_html('<a href="{}">Record the count</a>', url)


@admin.register(Reservation)
class ReservationAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "demand", "location", "sku", "quantity", "status", "created_at"]
    list_filter = ["status", "delivery_method", "location"]
    search_fields = ["reference", "demand", "sku__code"]
    list_select_related = ["location", "sku"]


@admin.register(Transfer)
class TransferAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Staff see transfers leaving or arriving at their locations."""

    list_display = ["pk", "from_location", "to_location", "sku", "quantity", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["sku__code", "reference"]
    list_select_related = ["from_location", "to_location", "sku"]

    def location_scope(self, request, allowed: set[int]) -> Q:
        return Q(from_location__in=allowed) | Q(to_location__in=allowed)

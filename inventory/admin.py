"""Stock at my store: levels as the API promises them, and the changes a manager records
(adjustments, counts, receipts, write-offs, safety stock), each through its service."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from common.errors import DomainError
from inventory import selectors, services
from inventory.models import CountRequest, Reservation, Sku, StockLevel, StockMovement, Transfer
from stores.admin import LocationScopedAdminMixin
from stores.models import Location
from stores.roles import STOCK_KEEPERS

Reason = StockMovement.Reason
STAFF_REASONS = [
    (Reason.RECEIPT, "Receipt: units received (+)"),
    (Reason.ADJUSTMENT, "Adjustment: the signed change, e.g. -1"),
    (Reason.CYCLE_COUNT, "Count: the quantity counted on the shelf"),
    (Reason.WRITE_OFF, "Write-off: units taken away (damaged, lost)"),
    (Reason.DAMAGED, "Damaged: into the hold, no longer promised"),
    (Reason.RETURN_RESTOCK, "Held units inspected: back on the shelf"),
]
LOW_STOCK = 3


def stock_keeping_locations(user):
    """Where `user` may change stock: every active location for a superuser, else the
    locations where they are a manager (or a warehouse's operator)."""
    qs = Location.objects.filter(is_active=True).order_by("code")
    if user.is_superuser:
        return qs
    if not user.has_perm("inventory.add_stockmovement"):
        return qs.none()
    return qs.filter(memberships__user=user, memberships__role__in=STOCK_KEEPERS)


def _sign(n: int) -> str:
    return f"+{n}" if n > 0 else f"-{-n}" if n < 0 else "0"


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


class LowStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [
            ("low", f"Low ({LOW_STOCK} or fewer to promise)"),
            ("out", "Nothing to promise"),
            ("safety", "Has safety stock"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(atp__lte=LOW_STOCK)
        if self.value() == "out":
            return queryset.filter(atp=0)
        if self.value() == "safety":
            return queryset.filter(safety_stock__gt=0)
        return queryset


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


class MyStockLocationFilter(admin.SimpleListFilter):
    title = "location"
    parameter_name = "location"

    def lookups(self, request, model_admin):
        locations = model_admin.allowed_locations(request)
        if locations.count() < 2:
            return []
        return [(str(loc.pk), f"{loc.code} {loc.name}") for loc in locations]

    def has_output(self):
        return bool(self.lookup_choices)

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(location_id=self.value())
        return queryset


class SafetyStockForm(forms.Form):
    safety_stock = forms.IntegerField(
        min_value=0, max_value=100_000, help_text="Units kept back from online orders."
    )
    reason = forms.CharField(max_length=200, help_text="Why, for whoever looks at it next.")


@admin.register(StockLevel)
class StockLevelAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: stock changes only as movements with a reason, safety stock through its
    own form. Held units (returns awaiting inspection, damaged, not found until counted) are
    on hand, never available."""

    list_display = [
        "sku_code", "sku_name", "barcode", "on_hand", "reserved", "held", "safety_stock",
        "available_to_promise", "location",
    ]  # fmt: skip
    list_filter = [LowStockFilter, HeldFilter, MyStockLocationFilter, "location__kind"]
    search_fields = ["sku__code", "sku__name", "sku__barcode"]
    list_select_related = ["location", "sku"]
    ordering = ["location__code", "sku__code"]

    class Media:
        css = {"all": ["common/workspace.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(atp=selectors.atp_expression())

    def get_search_results(self, request, queryset, search_term):
        """A scanned barcode or a code finds its SKU exactly; anything else as text."""
        sku = selectors.sku_find(text=search_term)
        if sku is not None:
            return queryset.filter(sku=sku), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="SKU", ordering="sku__code")
    def sku_code(self, level: StockLevel) -> str:
        return level.sku.code

    @admin.display(description="product", ordering="sku__name")
    def sku_name(self, level: StockLevel) -> str:
        return level.sku.name

    @admin.display(description="barcode")
    def barcode(self, level: StockLevel) -> str:
        return level.sku.barcode or "-"

    @admin.display(description="available to promise", ordering="atp")
    def available_to_promise(self, level: StockLevel) -> int:
        return level.atp

    def get_list_display(self, request):
        """A manager's rows link to recording a change and to the safety stock form."""
        keeper_ids = set(stock_keeping_locations(request.user).values_list("pk", flat=True))
        if not keeper_ids:
            return self.list_display
        record = reverse("admin:inventory_stockmovement_add")

        @admin.display(description="change")
        def change_links(level: StockLevel) -> str:
            if level.location_id not in keeper_ids:
                return ""
            safety = reverse("admin:inventory_stocklevel_safety", args=[level.pk])
            return format_html(
                '<a href="{}?location={}&sku={}">Record a change</a> · '
                '<a href="{}">Safety stock</a>',
                record, level.location_id, level.sku.code, safety,
            )  # fmt: skip

        return [*self.list_display, change_links]

    def get_urls(self):
        return [
            path(
                "<int:pk>/safety-stock/",
                self.admin_site.admin_view(self.safety_stock_view),
                name="inventory_stocklevel_safety",
            ),
            *super().get_urls(),
        ]

    def safety_stock_view(self, request, pk: int):
        level = self.get_queryset(request).filter(pk=pk).first()
        if level is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, pk)
        if not stock_keeping_locations(request.user).filter(pk=level.location_id).exists():
            raise PermissionDenied
        form = SafetyStockForm(request.POST or None, initial={"safety_stock": level.safety_stock})
        if request.method == "POST" and form.is_valid():
            before = level.safety_stock
            after = form.cleaned_data["safety_stock"]
            try:
                services.stock_set_safety_stock(
                    location=level.location, sku=level.sku, safety_stock=after,
                    actor=request.user, note=form.cleaned_data["reason"],
                )  # fmt: skip
            except DomainError as exc:
                form.add_error("safety_stock", exc.detail)
            else:
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=[level],
                    action_flag=CHANGE,
                    change_message=f"Safety stock {before} → {after}: "
                    f"{form.cleaned_data['reason']}",
                )
                fresh = selectors.stock_level_get(
                    location_id=level.location_id, sku_id=level.sku_id
                )
                self.message_user(
                    request,
                    f"{level.sku.code} {level.sku.name} at {level.location.code}: safety stock "
                    f"{before} → {after}. Available to promise online now {fresh.atp}.",
                )
                return HttpResponseRedirect(
                    reverse("admin:inventory_stocklevel_changelist") + f"?q={level.sku.code}"
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Safety stock of {level.sku.code} at {level.location.code}",
            "level": level,
            "form": form,
            "opts": self.opts,
            "history": LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(StockLevel),
                object_id=str(level.pk),
            ).order_by("-action_time")[:10],
        }
        return TemplateResponse(request, "admin/inventory/safety_stock.html", context)


class MovementForm(forms.Form):
    location = forms.ModelChoiceField(queryset=Location.objects.none())
    sku = forms.CharField(
        label="SKU", max_length=64, help_text="Its code (e.g. SKU-00001) or its barcode."
    )
    reason = forms.ChoiceField(choices=STAFF_REASONS)
    quantity = forms.IntegerField(min_value=-100_000, max_value=100_000)
    from_hold = forms.BooleanField(
        required=False,
        label="Write off held units",
        help_text="With a write-off: the units come out of the hold (inspected, not sellable).",
    )
    note = forms.CharField(max_length=255, help_text="Why: the delivery note, what was found.")

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations
        if locations.count() == 1:
            self.fields["location"].initial = locations.first().pk

    def clean_sku(self) -> Sku:
        text = self.cleaned_data["sku"]
        sku = selectors.sku_find(text=text)
        if sku is None:
            raise forms.ValidationError(f"No SKU has the code or barcode {text!r}.")
        return sku


@admin.register(StockMovement)
class StockMovementAdmin(LocationScopedAdminMixin, admin.ModelAdmin):
    """The ledger. Recording a change calls the same services as the API."""

    list_display = [
        "created_at", "location", "sku", "reason", "delta_on_hand", "delta_reserved",
        "delta_held", "reference", "actor", "note",
    ]  # fmt: skip
    list_filter = ["reason", MyStockLocationFilter]
    search_fields = ["sku__code", "sku__barcode", "reference", "external_id"]
    list_select_related = ["location", "sku", "actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return stock_keeping_locations(request.user).exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        locations = stock_keeping_locations(request.user)
        form = MovementForm(request.POST or None, locations=locations, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            message = self._record(request, form)
            if message:
                self.message_user(request, message)
                if "_addanother" in request.POST:
                    return HttpResponseRedirect(request.path)
                return HttpResponseRedirect(
                    reverse("admin:inventory_stocklevel_changelist")
                    + f"?q={form.cleaned_data['sku'].code}"
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Record a stock change",
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/inventory/record_movement.html", context)

    def _record(self, request, form: MovementForm) -> str:
        """Record through the service; the real change in words, or "" with the error on
        the form (which keeps what was typed)."""
        data = form.cleaned_data
        location, sku = data["location"], data["sku"]
        before = selectors.stock_level_get(location_id=location.pk, sku_id=sku.pk)
        on_hand_before = before.on_hand if before else 0
        try:
            movement = self._record_through_service(request, data)
        except DomainError as exc:
            reserved = before.reserved if before else 0
            form.add_error(
                "quantity" if exc.extra.get("field", "quantity") == "quantity" else None,
                f"Not recorded for {sku.code} {sku.name} at {location.code}: {exc.detail} "
                f"(on hand {on_hand_before}, reserved {reserved}, you entered "
                f"{data['quantity']}).",
            )
            return ""
        self.log_addition(request, movement, [{"added": {}}])
        after = selectors.stock_level_get(location_id=location.pk, sku_id=sku.pk)
        change = after.on_hand - on_hand_before
        return (
            f"{sku.code} {sku.name} at {location.code}: on hand {on_hand_before} → "
            f"{after.on_hand} ({_sign(change)}), held {after.held}. Available to promise now "
            f"{after.atp}."
        )

    @staticmethod
    def _record_through_service(request, data: dict) -> StockMovement:
        """The hold's service for what goes into or out of it, else a plain movement."""
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
            {"location": obj.location_id, "sku": obj.sku.code, "reason": Reason.CYCLE_COUNT}
        )
        url = f"{reverse('admin:inventory_stockmovement_add')}?{query}"
        return format_html('<a href="{}">Record the count</a>', url)


@admin.register(Reservation)
class ReservationAdmin(LocationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "demand", "location", "sku", "quantity", "status", "created_at"]
    list_filter = ["status", "delivery_method", MyStockLocationFilter]
    search_fields = ["reference", "demand", "sku__code"]
    list_select_related = ["location", "sku"]


class TransferRequestForm(forms.Form):
    to_location = forms.ModelChoiceField(queryset=Location.objects.none(), label="To (yours)")
    from_location = forms.ModelChoiceField(
        queryset=Location.objects.filter(is_active=True).order_by("code"), label="Ask"
    )
    sku = forms.CharField(label="SKU", max_length=64, help_text="Its code or barcode.")
    quantity = forms.IntegerField(min_value=1, max_value=100_000)
    note = forms.CharField(max_length=255, required=False)

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_location"].queryset = locations
        if locations.count() == 1:
            self.fields["to_location"].initial = locations.first().pk

    def clean_sku(self) -> Sku:
        sku = selectors.sku_find(text=self.cleaned_data["sku"])
        if sku is None:
            raise forms.ValidationError(
                f"No SKU has the code or barcode {self.cleaned_data['sku']!r}."
            )
        return sku


@admin.register(Transfer)
class TransferAdmin(LocationScopedAdminMixin, admin.ModelAdmin):
    """Transfers leaving or arriving at the user's locations. A manager asks another
    location for stock; the sender ships it; the asking location receives it. Each button
    calls the same service as the API, which checks the user works at that end."""

    list_display = [
        "pk", "sku", "quantity", "from_location", "to_location", "status", "requested_by",
        "note", "created_at",
    ]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["sku__code", "sku__barcode", "reference", "note"]
    list_select_related = ["from_location", "to_location", "sku", "requested_by"]
    actions = ["ship_selected", "receive_selected", "decline_selected"]

    def location_scope(self, request, allowed: set[int]) -> Q:
        return Q(from_location__in=allowed) | Q(to_location__in=allowed)

    def has_add_permission(self, request) -> bool:
        return stock_keeping_locations(request.user).exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("inventory.view_transfer"):
            return {}
        return actions

    def _each(self, request, queryset, service, done: str, **kwargs) -> None:
        ok = []
        for transfer in queryset.select_related("sku", "from_location", "to_location"):
            try:
                service(transfer=transfer, actor=request.user, **kwargs)
            except DomainError as exc:
                self.message_user(request, f"Transfer {transfer.pk}: {exc.detail}", messages.ERROR)
            else:
                ok.append(
                    f"{transfer.quantity} x {transfer.sku.code} "
                    f"{transfer.from_location.code} → {transfer.to_location.code}"
                )
        if ok:
            self.message_user(request, f"{done}: " + "; ".join(ok) + ".")

    @admin.action(description="Ship the selected requests (takes the stock out here)")
    def ship_selected(self, request, queryset):
        self._each(request, queryset, services.transfer_ship, "Shipped")

    @admin.action(description="Receive the selected transfers (puts the stock on hand here)")
    def receive_selected(self, request, queryset):
        self._each(request, queryset, services.transfer_receive, "Received")

    @admin.action(description="Decline the selected requests")
    def decline_selected(self, request, queryset):
        self._each(request, queryset, services.transfer_decline, "Declined")

    def add_view(self, request, form_url="", extra_context=None):
        locations = stock_keeping_locations(request.user)
        if not locations.exists():
            raise PermissionDenied
        form = TransferRequestForm(request.POST or None, locations=locations)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                transfer = services.transfer_request(
                    from_location=data["from_location"], to_location=data["to_location"],
                    sku=data["sku"], quantity=data["quantity"], actor=request.user,
                    note=data["note"],
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(exc.extra.get("field") if exc.extra.get("field") in form.fields
                               else None, exc.detail)  # fmt: skip
            else:
                self.message_user(
                    request,
                    f"Asked {transfer.from_location.code} for {transfer.quantity} x "
                    f"{transfer.sku.code} {transfer.sku.name}; it arrives once they ship it.",
                )
                return HttpResponseRedirect(reverse("admin:inventory_transfer_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Ask another location for stock",
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/inventory/request_transfer.html", context)

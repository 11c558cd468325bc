"""Returns in the admin: staff see the returns received at (or opened at) their stores and
any return not yet received, receive, inspect per line, reject and complete them, and start
one from an order's page; every button calls the same service as the API."""

from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django_fsm import TransitionNotAllowed
from django_fsm.admin import FSMAdminMixin

from common.errors import DomainError
from customers.models import Customer
from fulfillment.admin import CustomerWithPickupsAdmin
from fulfillment.forms import serializer_form
from orders.models import Order
from orders.selectors import order_get
from returns import selectors
from returns.models import Return, ReturnExchange, ReturnLine
from returns.policy import return_reasons
from returns.serializers import ReturnReceiveInputSerializer, ReturnRejectInputSerializer
from returns.services.codes import return_code_unlock
from returns.services.lifecycle import (
    Inspection,
    ReturnLineRequest,
    ReturnRequest,
    return_complete,
    return_inspect,
    return_open,
    return_receive,
    return_reject,
)
from stores.models import Location, StaffMembership
from stores.selectors import location_ids_for_user, staff_roles

BUTTONS = {
    "receive": (return_receive, ReturnReceiveInputSerializer),
    "reject": (return_reject, ReturnRejectInputSerializer),
    "complete": (return_complete, None),
}


class ReturnLineInline(admin.TabularInline):
    """Inspection, per line: condition, disposition and a transfer's target."""

    model = ReturnLine
    extra = 0
    can_delete = False
    fields = [
        "order_line", "sku", "quantity", "reason", "note", "condition", "disposition",
        "target_location", "unit_paid", "fee", "refund_amount", "exchanged",
    ]  # fmt: skip
    readonly_fields = [
        "order_line", "sku", "quantity", "reason", "note", "unit_paid", "fee", "refund_amount",
        "exchanged",
    ]  # fmt: skip

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("returns.view_return")

    def has_change_permission(self, request, obj=None) -> bool:
        """Inspecting is changing the return, not its line rows (the service writes them)."""
        return request.user.has_perm("returns.change_return")


class ReturnExchangeInline(admin.TabularInline):
    model = ReturnExchange
    extra = 0
    can_delete = False
    fields = readonly_fields = ["order_line", "sku", "quantity"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("returns.view_return")


@admin.register(Return)
class ReturnAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    fsm_forms = {
        name: serializer_form(form) for name, (_, form) in BUTTONS.items() if form is not None
    }
    list_display = [
        "rma", "code", "order", "status", "opened_at", "location", "refund_total", "created_at",
    ]  # fmt: skip
    actions = ["clear_code_tries"]
    list_filter = ["status", "location"]
    search_fields = ["rma", "code", "order__number", "customer__email", "customer__phone"]
    list_select_related = ["order", "location", "opened_at"]
    inlines = [ReturnLineInline, ReturnExchangeInline]
    readonly_fields = [
        "rma", "code", "order", "customer", "opened_at", "location", "status", "reject_reason",
        "refund_total", "shipping_refunded", "refunds", "exchange_order", "exchange_surplus",
        "received_at", "inspected_at", "closed_at", "created_by", "created_at",
        "code_failures", "code_locked_until",
    ]  # fmt: skip
    exclude = ["refund_rounds"]

    def get_queryset(self, request):
        return selectors.return_list(user=request.user)

    def has_add_permission(self, request) -> bool:
        return False  # started from an order's page ("Start a return")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Refunds")
    def refunds(self, ret: Return) -> str:
        return format_html_join(
            "; ", "{} {} to {}: {}",
            ((r["amount"], r["currency"], r["tender"], r["status"])
             for r in selectors.return_refunds(ret=ret)),
        ) or "-"  # fmt: skip

    def has_clear_code_tries_permission(self, request) -> bool:
        """Only managers clear the tries (each return's own rule is the service's)."""
        return StaffMembership.Role.MANAGER in staff_roles(user=request.user)

    @admin.action(description="Clear wrong return-code tries", permissions=["clear_code_tries"])
    def clear_code_tries(self, request, queryset):
        cleared = 0
        for ret in queryset:
            try:
                return_code_unlock(ret=ret, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{ret.rma}: {exc}", messages.ERROR)
            else:
                cleared += 1
        if cleared:
            self.message_user(request, f"Wrong code tries cleared on {cleared} return(s).")

    # --- buttons ----------------------------------------------------------------------------

    def is_fsm_transition_visible(self, transition) -> bool:
        return transition.name in BUTTONS

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        service, _ = BUTTONS[transition_name]
        try:
            service(ret=obj, actor=request.user, **(kwargs or {}))
        except (DomainError, TransitionNotAllowed) as exc:
            self.message_user(request, f"{transition_name}: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"Return {obj.rma}: {transition_name} done.")
        return True

    def save_model(self, request, obj, form, change) -> None:
        """Nothing to save: the services write the return."""

    def save_formset(self, request, form, formset, change) -> None:
        """The lines' inspection goes through `return_inspect`, never a save of the rows."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is not ReturnLine:
            return
        inspections = [
            Inspection(
                line_id=line_form.instance.order_line_id,
                condition=line_form.cleaned_data.get("condition") or "",
                disposition=line_form.cleaned_data.get("disposition") or "",
                target=line_form.cleaned_data.get("target_location"),
            )
            for line_form in formset.forms
            if line_form.has_changed()
        ]
        if not inspections:
            return
        try:
            return_inspect(ret=form.instance, inspections=inspections, actor=request.user)
        except DomainError as exc:
            self.message_user(request, f"Inspection refused: {exc.as_dict()}", messages.ERROR)
        else:
            self.message_user(request, f"Return {form.instance.rma} inspected.")

    # --- starting a return from an order --------------------------------------------------

    def get_urls(self):
        start = path(
            "start/<str:number>/",
            self.admin_site.admin_view(self.start_view),
            name="returns_return_start",
        )
        return [start, *super().get_urls()]

    def start_view(self, request, number: str):
        """The counter: the order's lines, how many of each come back and why; received here
        at once (opened and received in one step)."""
        try:  # staff may open any order by number: a customer brings any order to any store
            order = order_get(number=number, user=request.user)
        except Order.DoesNotExist:
            raise Http404(f"No order {number}.") from None
        allowed = location_ids_for_user(user=request.user)
        locations = Location.objects.filter(accepts_returns=True, is_active=True).order_by("code")
        if allowed is not None:
            locations = locations.filter(pk__in=allowed)
        lines = list(order.lines.order_by("pk"))
        if request.method == "POST":
            asked = [
                ReturnLineRequest(
                    line_id=line.pk,
                    quantity=int(request.POST.get(f"quantity-{line.pk}") or 0),
                    reason=request.POST.get(f"reason-{line.pk}", ""),
                    note=request.POST.get(f"note-{line.pk}", ""),
                )
                for line in lines
                if (request.POST.get(f"quantity-{line.pk}") or "0").isdigit()
                and int(request.POST.get(f"quantity-{line.pk}") or 0) > 0
            ]
            location = locations.filter(code=request.POST.get("location", "")).first()
            try:
                if location is None:
                    raise DomainError("Choose one of your stores that accepts returns.")
                ret = return_open(
                    request=ReturnRequest(order=order, lines=asked, location=location),
                    actor=request.user,
                )
            except DomainError as exc:
                self.message_user(request, f"Return refused: {exc.as_dict()}", messages.ERROR)
            else:
                self.message_user(request, f"Return {ret.rma} received at {location.code}.")
                return HttpResponseRedirect(reverse("admin:returns_return_change", args=[ret.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Start a return of {order.number}",
            "order": order,
            "lines": lines,
            "locations": locations,
            "reasons": return_reasons(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/returns/return/start.html", context)


# The customer page adds their returns, wherever they were opened or received.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithReturnsAdmin(CustomerWithPickupsAdmin):
    readonly_fields = [*CustomerWithPickupsAdmin.readonly_fields, "returns"]

    @admin.display(description="Returns")
    def returns(self, customer: Customer) -> str:
        """Every return of the customer, newest first: where it is and what it refunded."""
        rows = (
            Return.objects.filter(customer=customer)
            .select_related("order", "location")
            .order_by("-created_at", "-pk")
        )
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a> for order {}: {}{} (refunded {} {})',
            (
                (reverse("admin:returns_return_change", args=[ret.pk]), ret.rma, ret.order.number,
                 ret.get_status_display(), f" at {ret.location.code}" if ret.location else "",
                 ret.refund_total, ret.order.currency)
                for ret in rows
            ),
        ) or "-"  # fmt: skip

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django_fsm import TransitionNotAllowed
from django_fsm.admin import FSMAdminMixin

from common.errors import DomainError
from customers.models import Customer
from fulfillment import selectors
from fulfillment.forms import serializer_form
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.selectors import Queue
from fulfillment.services.actions import fulfillment_resend_code
from fulfillment.staff_actions import STAFF_ACTIONS
from inventory.models import DeliveryMethod
from orders.admin import CustomerWithOrdersAdmin
from stores.admin import LocationScopedAdminMixin


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return Queue.choices

    def queryset(self, request, queryset):
        if self.value() in Queue.values:
            return selectors.fulfillment_queue(queryset, queue=self.value(), user=request.user)
        return queryset


class FulfillmentLineInline(admin.TabularInline):
    model = FulfillmentOrderLine
    extra = 0
    can_delete = False
    fields = ["order_line", "quantity"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FulfillmentOrder)
class FulfillmentOrderAdmin(LocationScopedAdminMixin, FSMAdminMixin, admin.ModelAdmin):
    """Staff work their locations' queues; each button calls the same service as the API."""

    fsm_fields = ["status"]
    # The buttons that take input ask for what the API's action takes, validated the same way.
    fsm_forms = {
        name: serializer_form(action.input_serializer)
        for name, action in STAFF_ACTIONS.items()
        if action.input_serializer is not None
    }
    list_display = [
        "id", "order", "location", "kind", "status", "destination", "created_at", "pickup_deadline",
    ]  # fmt: skip
    list_filter = [QueueFilter, "status", "kind", "location"]
    search_fields = ["order__number", "order__customer__email", "order__customer__phone"]
    list_select_related = ["order", "location"]
    inlines = [FulfillmentLineInline]
    # Everything is read-only: a fulfillment order changes only through its buttons.
    readonly_fields = [
        f.name
        for f in FulfillmentOrder._meta.fields
        if f.name not in ("id", "pickup_code_hash", "pickup_code_failures", "pickup_code_round")
    ]
    exclude = ["pickup_code_hash", "pickup_code_failures", "pickup_code_round"]

    actions = ["resend_code"]

    @admin.action(description="Send the customer a new pickup code")
    def resend_code(self, request, queryset):
        sent = 0
        for fo in queryset.filter(status=FulfillmentOrder.Status.READY_FOR_PICKUP):
            fulfillment_resend_code(fulfillment_order=fo, actor=request.user)
            sent += 1
        self.message_user(request, f"A new pickup code goes to {sent} customer(s).")

    def location_scope(self, request, allowed: set[int]) -> Q:
        """The work of the caller's locations, and the transfers to its stores."""
        return Q(location_id__in=allowed) | Q(
            kind=DeliveryMethod.TRANSFER, destination_id__in=allowed
        )

    def save_model(self, request, obj, form, change) -> None:
        """Nothing to save: a button's service writes the fulfillment order itself, and a
        save of the row the form read could undo what happened since."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def is_fsm_transition_visible(self, transition) -> bool:
        return transition.name in STAFF_ACTIONS

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        staff_action = STAFF_ACTIONS[transition_name]
        try:
            # Scoped as the API scopes it: the admin's list also shows transfers to the
            # caller's stores, which only their receiving store may act on.
            fo = selectors.fulfillment_order_get(
                pk=obj.pk, user=request.user, at_destination=staff_action.at_destination
            )
        except FulfillmentOrder.DoesNotExist:
            where = "the store it goes to" if staff_action.at_destination else "its location"
            self.message_user(
                request, f"{transition_name}: only staff of {where} can do this.", messages.ERROR
            )
            return False
        try:
            staff_action.service(fulfillment_order=fo, actor=request.user, **(kwargs or {}))
        except (DomainError, TransitionNotAllowed) as exc:
            self.message_user(request, f"{transition_name}: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"Fulfillment order {obj.pk}: {transition_name} done.")
        return True


# The customer page adds their pickups, at every store: fulfillment knows customers' orders.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithPickupsAdmin(CustomerWithOrdersAdmin):
    readonly_fields = [*CustomerWithOrdersAdmin.readonly_fields, "pickups"]

    @admin.display(description="Pickups")
    def pickups(self, customer: Customer) -> str:
        """Every pickup and curbside collection of the customer, newest first."""
        rows = selectors.pickups_of_customer(customer_id=customer.pk)
        return format_html_join(
            mark_safe("<br>"),
            "{} at {}: {} (order {}{})",
            (
                (fo.get_kind_display(), fo.location.code, fo.get_status_display(),
                 fo.order.number, f", collected {fo.completed_at:%Y-%m-%d %H:%M}"
                 if fo.status == FulfillmentOrder.Status.PICKED_UP and fo.completed_at else "")
                for fo in rows
            ),
        ) or "-"  # fmt: skip

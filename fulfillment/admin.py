from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django_fsm import TransitionNotAllowed
from django_fsm.admin import FSMAdminMixin

from common.errors import DomainError
from fulfillment import selectors
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.services import actions
from fulfillment.views import ACTIONS, AT_DESTINATION, INCOMING, QUEUES
from inventory.models import DeliveryMethod
from stores.admin import LocationScopedAdminMixin
from stores.selectors import location_ids_for_user


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[c for c in FulfillmentOrder.RejectReason.choices if c[0] != "sla_expired"]
    )
    note = forms.CharField(required=False, max_length=255)


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=60)
    tracking_number = forms.CharField(max_length=100)


class HandoverForm(forms.Form):
    code = forms.CharField(required=False, max_length=12, help_text="The customer's pickup code.")
    override_reason = forms.CharField(
        required=False, max_length=255, help_text="Managers only: hand over without the code."
    )

    def clean(self):
        data = super().clean()
        if not data.get("code") and not data.get("override_reason"):
            raise forms.ValidationError("Give the customer's pickup code, or an override reason.")
        return data


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("to_accept", "To accept"), ("to_pick", "To pick"), ("to_pack", "To pack"),
                ("ready", "Ready for pickup"), ("late", "Late"),
                (INCOMING, "Incoming transfers")]  # fmt: skip

    def queryset(self, request, queryset):
        if self.value() == INCOMING:
            return queryset.filter(
                pk__in=selectors.incoming_transfer_list(user=request.user).values("pk")
            )
        if self.value() == "late":
            return selectors.late_queue(queryset)
        if self.value() in QUEUES:
            return queryset.filter(status__in=QUEUES[self.value()])
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
    fsm_forms = {"reject": RejectForm, "ship": ShipForm, "handover": HandoverForm}
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
            actions.fulfillment_resend_code(fulfillment_order=fo, actor=request.user)
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
        return transition.name in ACTIONS

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        service, _ = ACTIONS[transition_name]
        allowed = location_ids_for_user(user=request.user)
        acting_for = obj.destination_id if transition_name in AT_DESTINATION else obj.location_id
        if allowed is not None and acting_for not in allowed:
            where = "the store it goes to" if transition_name in AT_DESTINATION else "its location"
            self.message_user(
                request, f"{transition_name}: only staff of {where} can do this.", messages.ERROR
            )
            return False
        try:
            service(fulfillment_order=obj, actor=request.user, **(kwargs or {}))
        except (DomainError, TransitionNotAllowed) as exc:
            self.message_user(request, f"{transition_name}: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"Fulfillment order {obj.pk}: {transition_name} done.")
        return True

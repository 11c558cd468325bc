"""The store's work board: the fulfillment orders of the user's locations, each page with its
actions first, and the pick lists they print. Every button and bulk action calls the same
service as the API (`fulfillment.staff_actions`)."""

from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_fsm import TransitionNotAllowed
from django_fsm.admin import FSMAdminMixin

from common.errors import DomainError
from customers.models import Customer
from fulfillment import selectors
from fulfillment.forms import serializer_form
from fulfillment.models import FulfillmentOrder
from fulfillment.selectors import Queue
from fulfillment.services.actions import fulfillment_resend_code
from fulfillment.services.pickup_codes import MAX_CODE_FAILURES, pickup_code_attempts_left
from fulfillment.staff_actions import STAFF_ACTIONS
from inventory.models import DeliveryMethod
from inventory.selectors import shelf_stock
from orders.admin import CustomerWithOrdersAdmin
from orders.models import OrderEvent
from stores.admin import LocationScopedAdminMixin
from stores.models import StaffMembership
from stores.selectors import location_ids_for_user, staff_role_at

Status = FulfillmentOrder.Status
# What a button says it did, in the words of the floor.
DONE = {
    "accept": "accepted",
    "reject": "rejected",
    "pick": "marked as picked",
    "pack": "marked as packed",
    "ship": "shipped",
    "ready": "ready for pickup: the customer gets a pickup code",
    "handover": "handed over to the customer",
    "receive": "received at this store",
    "resend-code": "sent a new pickup code",
}


def local(moment, location) -> str:
    """`moment` as the location's staff read it: in its time zone, "today 14:30" or
    "Thu 3 Dec 14:30"."""
    if moment is None:
        return ""
    zone = ZoneInfo(location.timezone)
    at, now = timezone.localtime(moment, zone), timezone.localtime(timezone.now(), zone)
    day = "today" if at.date() == now.date() else f"{at:%a} {at.day} {at:%b}"
    return f"{day} {at:%H:%M}"


class StateFilter(admin.SimpleListFilter):
    """Open work by default; finished work on request."""

    title = "work"
    parameter_name = "work"

    def lookups(self, request, model_admin):
        return [("open", "Open work"), ("done", "Finished"), ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if request.GET.get("queue") or self.value() == "all":
            return queryset  # a queue says what it holds
        if self.value() == "done":
            return queryset.exclude(pk__in=selectors.open_work(queryset, user=request.user))
        return selectors.open_work(queryset, user=request.user)


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return Queue.choices

    def queryset(self, request, queryset):
        if self.value() in Queue.values:
            return selectors.fulfillment_queue(queryset, queue=self.value(), user=request.user)
        return queryset


class MyLocationFilter(admin.SimpleListFilter):
    """Only the user's own locations to choose from (all of them for a superuser)."""

    title = "location"
    parameter_name = "location"

    def lookups(self, request, model_admin):
        locations = model_admin.allowed_locations(request)
        if locations.count() < 2:
            return []  # one store: nothing to choose
        return [(str(loc.pk), f"{loc.code} {loc.name}") for loc in locations]

    def has_output(self):
        return bool(self.lookup_choices)

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(Q(location_id=self.value()) | Q(destination_id=self.value()))
        return queryset


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
    change_form_template = "admin/fulfillment/fulfillmentorder/work_page.html"
    fsm_transition_form_template = "admin/fulfillment/fulfillmentorder/confirm.html"
    change_list_template = "admin/fulfillment/fulfillmentorder/board.html"
    list_display = [
        "order_number", "customer_name", "items", "deadline", "kind_label", "status_label",
        "location",
    ]  # fmt: skip
    list_display_links = ["order_number"]
    list_filter = [StateFilter, QueueFilter, "kind", MyLocationFilter]
    search_fields = [
        "order__number", "order__customer__name", "order__customer__email",
        "order__customer__phone", "parking_spot",
    ]  # fmt: skip
    list_per_page = 50
    actions = ["accept_selected", "print_pick_list", "resend_code"]

    class Media:
        css = {"all": ["common/workspace.css"]}

    # The work board

    def get_queryset(self, request):
        return selectors.fulfillment_board(super().get_queryset(request))

    def get_ordering(self, request):
        """The soonest deadline first where a queue has one."""
        queue = request.GET.get("queue")
        if queue == Queue.READY:
            return ["pickup_deadline", "pk"]
        if queue in (Queue.TO_ACCEPT, Queue.LATE):
            return ["accept_by", "pk"]
        return ["created_at", "pk"]

    @admin.display(description="order", ordering="order__number")
    def order_number(self, fo: FulfillmentOrder) -> str:
        return fo.order.number

    @admin.display(description="customer", ordering="order__customer__name")
    def customer_name(self, fo: FulfillmentOrder) -> str:
        customer = fo.order.customer
        return customer.name or customer.email or customer.phone or "-"

    @admin.display(description="items")
    def items(self, fo: FulfillmentOrder) -> str:
        lines = list(fo.lines.all())
        units = sum(line.quantity for line in lines)
        names = ", ".join(f"{line.quantity} x {line.order_line.name}" for line in lines[:2])
        more = f", +{len(lines) - 2} more" if len(lines) > 2 else ""
        return format_html(
            "{} item{}<br><span class='board-items'>{}{}</span>",
            units, "" if units == 1 else "s", names, more,
        )  # fmt: skip

    @admin.display(description="deadline")
    def deadline(self, fo: FulfillmentOrder) -> str:
        now = timezone.now()
        if fo.status == Status.PENDING and fo.accept_by:
            late = fo.accept_by < now
            text = f"Accept by {local(fo.accept_by, fo.location)}"
        elif fo.status == Status.READY_FOR_PICKUP and fo.pickup_deadline:
            late = fo.pickup_deadline < now
            text = f"Collect by {local(fo.pickup_deadline, fo.location)}"
        else:
            return "-"
        return format_html(
            "<span class='{}'>{}{}</span>", "status-label status-late" if late else "", text,
            " (late)" if late else "",
        )  # fmt: skip

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, fo: FulfillmentOrder) -> str:
        if fo.is_transfer() and fo.destination:
            return f"Transfer to {fo.destination.code}"
        return fo.get_kind_display()

    @admin.display(description="status", ordering="status")
    def status_label(self, fo: FulfillmentOrder) -> str:
        if fo.customer_arrived_at and fo.status == Status.READY_FOR_PICKUP:
            bay = f" at bay {fo.parking_spot}" if fo.parking_spot else ""
            return format_html(
                "<span class='arrived'>Customer outside{}</span> since {}",
                bay, local(fo.customer_arrived_at, fo.location),
            )  # fmt: skip
        return format_html("<span class='status-label'>{}</span>", fo.get_status_display())

    # Bulk actions

    @admin.action(description="Accept the selected orders")
    def accept_selected(self, request, queryset):
        accepted, refused = [], []
        for fo in queryset.filter(status=Status.PENDING):
            if self._run(request, fo, "accept", quiet=True):
                accepted.append(fo.order.number)
            else:
                refused.append(fo.order.number)
        skipped = queryset.exclude(status=Status.PENDING).count()
        if accepted:
            self.message_user(request, f"Accepted {len(accepted)}: {', '.join(accepted)}.")
        if skipped:
            self.message_user(
                request, f"{skipped} selected order(s) were not waiting to be accepted.",
                messages.WARNING,
            )  # fmt: skip

    @admin.action(description="Print a pick list of the selected orders")
    def print_pick_list(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(
            reverse("admin:fulfillment_fulfillmentorder_pick_list") + f"?ids={ids}"
        )

    @admin.action(description="Send the customer a new pickup code")
    def resend_code(self, request, queryset):
        sent = 0
        for fo in queryset.filter(status=Status.READY_FOR_PICKUP):
            fulfillment_resend_code(fulfillment_order=fo, actor=request.user)
            sent += 1
        self.message_user(request, f"A new pickup code goes to {sent} customer(s).")

    # The pick list

    def get_urls(self):
        return [
            path(
                "pick-list/",
                self.admin_site.admin_view(self.pick_list_view),
                name="fulfillment_fulfillmentorder_pick_list",
            ),
            path(
                "<int:object_id>/resend-code/",
                self.admin_site.admin_view(self.resend_code_view),
                name="fulfillment_fulfillmentorder_resend",
            ),
            *super().get_urls(),
        ]

    def resend_code_view(self, request, object_id: int):
        fo = self.get_object(request, str(object_id))
        if fo is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST" and self.has_change_permission(request, fo):
            self._run(request, fo, "resend-code")
        return HttpResponseRedirect(
            reverse("admin:fulfillment_fulfillmentorder_change", args=[fo.pk])
        )

    def pick_list_view(self, request):
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        pks = [int(pk) for pk in request.GET.get("ids", "").split(",") if pk.strip().isdigit()]
        orders = selectors.pick_list(user=request.user, pks=pks)
        context = {
            **self.admin_site.each_context(request),
            "title": "Pick list",
            "orders": [self._pick_rows(fo) for fo in orders],
            "printed_at": local(timezone.now(), orders[0].location) if orders else "",
            "asked": len(pks),
        }
        template = "admin/fulfillment/fulfillmentorder/pick_list.html"
        return TemplateResponse(request, template, context)

    @staticmethod
    def _pick_rows(fo: FulfillmentOrder) -> dict:
        lines = list(fo.lines.all())
        skus = [line.order_line.sku_id for line in lines]
        shelf = shelf_stock(location_id=fo.location_id, sku_ids=skus)
        rows = []
        for line in lines:
            sku = line.order_line.sku
            level = shelf.get(sku.pk)
            rows.append(
                {
                    "sku": sku.code, "name": line.order_line.name, "barcode": sku.barcode,
                    "quantity": line.quantity,
                    "on_hand": level.on_hand if level else 0,
                }
            )  # fmt: skip
        return {"fo": fo, "lines": rows, "deadline": local(fo.accept_by, fo.location)}

    # The fulfillment order page

    def location_scope(self, request, allowed: set[int]) -> Q:
        """The work of the caller's locations, and the transfers to its stores."""
        return Q(location_id__in=allowed) | Q(
            kind=DeliveryMethod.TRANSFER, destination_id__in=allowed
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        fo = self.get_object(request, object_id)
        if fo is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        context = {**(extra_context or {}), **self._work_context(request, fo)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _work_context(self, request, fo: FulfillmentOrder) -> dict:
        lines = self._pick_rows(
            selectors.fulfillment_board(FulfillmentOrder.objects.filter(pk=fo.pk))
            .prefetch_related("lines__order_line__sku")
            .get()
        )["lines"]
        events = (
            OrderEvent.objects.filter(order_id=fo.order_id)
            .select_related("actor", "location")
            .order_by("created_at", "pk")
        )
        customer = fo.order.customer
        manager = staff_role_at(user=request.user, location=fo.location) == (
            StaffMembership.Role.MANAGER
        )
        return {
            "title": f"Order {fo.order.number} at {fo.location.code}",
            "fo": fo,
            "fo_lines": lines,
            "fo_customer": customer,
            "fo_customer_url": reverse("admin:customers_customer_change", args=[customer.pk]),
            "fo_order_url": reverse("admin:orders_order_change", args=[fo.order_id]),
            "fo_timeline": [
                {"at": local(e.created_at, e.location or fo.location), "event": e} for e in events
            ],
            "fo_deadlines": [
                (label, local(moment, fo.location))
                for label, moment in (
                    ("Accept by", fo.accept_by if fo.status == Status.PENDING else None),
                    ("Collect by", fo.pickup_deadline),
                    ("Customer outside since", fo.customer_arrived_at),
                )
                if moment
            ],
            "fo_pickup": fo.is_collected_at_store() and fo.status == Status.READY_FOR_PICKUP,
            "fo_tries_left": pickup_code_attempts_left(fo),
            "fo_max_tries": MAX_CODE_FAILURES,
            "fo_is_manager": manager,
            "fo_may_act": self._may_act(request, fo, "handover"),
            "fo_handover_url": reverse(
                "admin:fulfillment_fulfillmentorder_transition", args=[fo.pk, "handover"]
            ),
            "fo_resend_url": reverse("admin:fulfillment_fulfillmentorder_resend", args=[fo.pk]),
            "fo_pick_list_url": reverse("admin:fulfillment_fulfillmentorder_pick_list")
            + f"?ids={fo.pk}",
        }

    def _may_act(self, request, fo: FulfillmentOrder, name: str) -> bool:
        """Only the location that does the work presses its buttons; only the store a
        transfer goes to receives it."""
        allowed = location_ids_for_user(user=request.user)
        if allowed is None:
            return True
        if STAFF_ACTIONS[name].at_destination:
            return fo.destination_id in allowed
        return fo.location_id in allowed

    def _get_fsm_extra_context(self, *, request, obj):
        for block in super()._get_fsm_extra_context(request=request, obj=obj):
            block.available_transitions[:] = [
                t for t in block.available_transitions if self._may_act(request, obj, t.name)
            ]
            if block.available_transitions:
                yield block

    def get_fields(self, request, obj=None):
        return []  # a fulfillment order changes only through its buttons

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
        return self._run(request, obj, transition_name, kwargs=kwargs)

    def _run(self, request, obj, name: str, *, kwargs=None, quiet: bool = False) -> bool:
        staff_action = STAFF_ACTIONS[name]
        label = f"Order {obj.order.number}"
        try:
            # Scoped as the API scopes it: the admin's list also shows transfers to the
            # caller's stores, which only their receiving store may act on.
            fo = selectors.fulfillment_order_get(
                pk=obj.pk, user=request.user, at_destination=staff_action.at_destination
            )
        except FulfillmentOrder.DoesNotExist:
            where = "the store it goes to" if staff_action.at_destination else "its location"
            self.message_user(
                request, f"{label}: only staff of {where} can do this.", messages.ERROR
            )
            return False
        try:
            staff_action.service(fulfillment_order=fo, actor=request.user, **(kwargs or {}))
        except (DomainError, TransitionNotAllowed) as exc:
            detail = getattr(exc, "detail", None) or (
                f"it is {fo.get_status_display().lower()} now, so this cannot be done."
            )
            self.message_user(request, f"{label}: {detail}", messages.ERROR)
            return False
        if not quiet:
            self.message_user(request, f"{label}: {DONE.get(name, name)}.")
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

from django.contrib import admin, messages
from django.db.models import Q
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django_fsm import TransitionNotAllowed

from common.errors import DomainError
from customers.admin import CustomerAdmin
from customers.models import Customer
from orders.models import Order, OrderEvent, OrderLine
from orders.selectors import order_can_change, order_get, orders_touching
from orders.services.lifecycle import order_cancel
from orders.services.pricing import order_totals_display
from payments.selectors import payments_of_demand
from stores.admin import ScopedNotFoundMixin
from stores.selectors import location_ids_for_user


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = [
        "sku_code", "name", "quantity", "unit_price", "line_discount", "order_discount",
        "unit_paid", "units_paid_extra", "quantity_cancelled", "quantity_fulfilled",
        "quantity_returned",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrderEventInline(admin.TabularInline):
    """The timeline, oldest first."""

    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "message", "location", "actor"]
    readonly_fields = fields
    ordering = ["created_at", "pk"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class CustomerOrderInline(admin.TabularInline):
    """Every order of the customer, whatever the channel or store."""

    model = Order
    fk_name = "customer"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["number", "created_at", "channel", "delivery_method", "pickup_location", "status",
              "return_status", "grand_total"]  # fmt: skip
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# The customer page lists the customer's orders: orders knows customers, not the reverse.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithOrdersAdmin(CustomerAdmin):
    """One customer's orders, pickups and returns across web, app and every store."""

    search_fields = [*CustomerAdmin.search_fields, "orders__number"]
    inlines = [CustomerOrderInline, *CustomerAdmin.inlines]


@admin.register(Order)
class OrderAdmin(ScopedNotFoundMixin, admin.ModelAdmin):
    list_display = [
        "number", "created_at", "customer", "channel", "delivery_method", "pickup_location",
        "status", "return_status", "grand_total",
    ]  # fmt: skip
    list_filter = ["status", "channel", "delivery_method", "return_status", "pickup_location"]
    search_fields = ["number", "customer__email", "customer__phone", "customer__name"]
    list_select_related = ["customer", "pickup_location"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]
    actions = ["cancel_orders"]
    readonly_fields = [
        "number", "customer", "channel", "store", "delivery_method", "pickup_location",
        "shipping_address", "ship_to_store", "currency", "totals", "payments", "discounts",
        "subtotal", "shipping_total", "discount_total", "grand_total", "status",
        "return_status", "start_return", "fulfilled_at", "routing", "created_by", "created_at",
    ]  # fmt: skip

    @admin.display(description="Return")
    def start_return(self, order: Order) -> str:
        """A link to the returns app's counter form (by URL name: orders imports no returns)."""
        try:
            url = reverse("admin:returns_return_start", args=[order.number])
        except NoReverseMatch:
            return "-"
        return format_html('<a class="button" href="{}">Start a return</a>', url)

    def get_queryset(self, request):
        """Staff see orders touching their locations; superusers everything."""
        qs = super().get_queryset(request)
        allowed = location_ids_for_user(user=request.user)
        if allowed is None:
            return qs
        return qs.filter(orders_touching(location_ids=allowed))

    def has_add_permission(self, request) -> bool:
        return False  # orders come from checkout

    def get_search_results(self, request, queryset, search_term):
        """Any order by its exact number, as the API allows staff: a customer can bring any
        order to any store. Everything else searches the orders of the user's locations."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_term.strip().upper()
        if number and location_ids_for_user(user=request.user) != set():
            by_number = Order.objects.filter(number=number).values("pk")
            if by_number.exists():
                results = Order.objects.filter(Q(pk__in=results.values("pk")) | Q(pk__in=by_number))
        return results, may_have_duplicates

    def get_object(self, request, object_id, from_field=None):
        """An order of the user's locations; another store's only when opened from a search
        for its exact number (read-only: the user's stores are not involved)."""
        order = super().get_object(request, object_id, from_field)
        if order is not None:
            return order
        searched = QueryDict(request.GET.get("_changelist_filters", "")).get("q", "")
        try:
            found = order_get(number=searched.strip().upper(), user=request.user)
        except Order.DoesNotExist:
            return None
        return found if str(found.pk) == str(object_id) else None

    @admin.display(description="Totals")
    def totals(self, order: Order) -> str:
        """As the API shows them: the lines still due, what the tenders did, the balance."""
        money = order_totals_display(order=order, payments=payments_of_demand(demand=order.number))
        return format_html_join(
            ", ", "{}: {}", ((name.replace("_", " "), amount) for name, amount in money.items())
        )

    @admin.display(description="Payments")
    def payments(self, order: Order) -> str:
        rows = payments_of_demand(demand=order.number)
        return format_html_join(
            "; ",
            "{} {} {} (authorized {}, captured {}, refunded {}): {}",
            (
                (p.get_method_display() if p.method else "not tendered", p.amount, p.currency,
                 p.authorized, p.captured, p.refunded, p.status)
                for p in rows
            ),
        ) or "-"  # fmt: skip

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Cancel selected orders (releases their stock)")
    def cancel_orders(self, request, queryset):
        done = 0
        for order in queryset:
            if not order_can_change(order=order, user=request.user):
                self.message_user(
                    request, f"{order.number}: not an order of your stores.", messages.ERROR
                )
                continue
            try:
                order_cancel(order=order, actor=request.user, reason="cancelled in the admin")
                done += 1
            except (DomainError, TransitionNotAllowed) as exc:
                self.message_user(request, f"{order.number}: {exc}", messages.WARNING)
        if done:
            self.message_user(request, f"Cancelled {done} order(s).")

from django.urls import path, re_path, register_converter

from orders import views
from orders.services.checkout import NUMBER_ALPHABET


class OrderNumberConverter:
    """Only numbers as checkout issues them, so junk (NUL bytes, say) never reaches a query."""

    regex = f"OM[{NUMBER_ALPHABET}]{{8}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrderNumberConverter, "order_number")

app_name = "orders"

urlpatterns = [
    path("checkout", views.CheckoutView.as_view(), name="checkout"),
    path("orders", views.OrderListView.as_view(), name="order-list"),
    path("orders/<order_number:number>", views.OrderDetailView.as_view(), name="order-detail"),
    path(
        "orders/<order_number:number>/timeline",
        views.OrderTimelineView.as_view(),
        name="order-timeline",
    ),
    path(
        "orders/<order_number:number>/cancel", views.OrderCancelView.as_view(), name="order-cancel"
    ),
    path(
        "orders/<order_number:number>/lines/<int:line_id>/cancel",
        views.OrderLineCancelView.as_view(),
        name="order-line-cancel",
    ),
    # Last: the API's own 404 for any other path under orders/, not the HTML page.
    re_path(r"^orders/.+$", views.OrderNotFoundView.as_view()),
]

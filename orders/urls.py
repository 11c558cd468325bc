from django.urls import path, re_path

from common.codes import READABLE_ALPHABET
from common.converters import converter_register
from orders import views

# Only numbers as checkout issues them reach a view.
converter_register("order_number", f"OM[{READABLE_ALPHABET}]{{8}}")

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

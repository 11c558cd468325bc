from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("checkout", views.CheckoutView.as_view(), name="checkout"),
    path("orders", views.OrderListView.as_view(), name="order-list"),
    path("orders/<str:number>", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:number>/timeline", views.OrderTimelineView.as_view(), name="order-timeline"),
    path("orders/<str:number>/cancel", views.OrderCancelView.as_view(), name="order-cancel"),
    path(
        "orders/<str:number>/lines/<int:line_id>/cancel",
        views.OrderLineCancelView.as_view(),
        name="order-line-cancel",
    ),
]

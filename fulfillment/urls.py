from django.urls import path

from fulfillment import views

app_name = "fulfillment"

urlpatterns = [
    path("fulfillment-orders", views.FulfillmentOrderListView.as_view(), name="fo-list"),
    path(
        "fulfillment-orders/<int:pk>", views.FulfillmentOrderDetailView.as_view(), name="fo-detail"
    ),
    path(
        "fulfillment-orders/<int:pk>/<slug:action>",
        views.FulfillmentActionView.as_view(),
        name="fo-action",
    ),
    path("pickups/<int:pk>/arrived", views.PickupArrivedView.as_view(), name="pickup-arrived"),
]

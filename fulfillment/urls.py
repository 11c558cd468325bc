from django.urls import path

from fulfillment import views
from fulfillment.staff_actions import STAFF_ACTIONS

app_name = "fulfillment"

urlpatterns = [
    path("fulfillment-orders", views.FulfillmentOrderListView.as_view(), name="fo-list"),
    path(
        "fulfillment-orders/<int:pk>", views.FulfillmentOrderDetailView.as_view(), name="fo-detail"
    ),
    # One path per action, so each documents its own body (any other name: the API's 404).
    *(
        path(
            f"fulfillment-orders/<int:pk>/{name}",
            views.FulfillmentActionView.as_view(staff_action_name=name),
            name=f"fo-{name}",
        )
        for name in STAFF_ACTIONS
    ),
    path("pickups/<int:pk>/arrived", views.PickupArrivedView.as_view(), name="pickup-arrived"),
]

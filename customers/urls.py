from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("customers/<int:pk>/points", views.CustomerPointsView.as_view(), name="points"),
    path(
        "customers/<int:pk>/points/adjust",
        views.CustomerPointsAdjustView.as_view(),
        name="points-adjust",
    ),
]

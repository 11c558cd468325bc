from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/enrol", views.CustomerEnrolView.as_view(), name="customer-enrol"),
    path("customers/<int:pk>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/points", views.CustomerPointsView.as_view(), name="points"),
    path(
        "customers/<int:pk>/points/adjust",
        views.CustomerPointsAdjustView.as_view(),
        name="points-adjust",
    ),
]

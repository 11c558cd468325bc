from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/enrol", views.CustomerEnrolView.as_view(), name="customer-enrol"),
    path("customers/<int:pk>", views.CustomerDetailView.as_view(), name="customer-detail"),
]

from django.urls import path

from stores import views

app_name = "stores"

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="location-list"),
    path("locations/<slug:code>", views.LocationDetailView.as_view(), name="location-detail"),
]

from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("availability", views.AvailabilityView.as_view(), name="availability"),
    path("skus", views.SkuSyncView.as_view(), name="sku-sync"),
    path("skus/<str:code>", views.SkuDetailView.as_view(), name="sku-detail"),
    path("stock", views.StockListView.as_view(), name="stock-list"),
    path("inventory/movements", views.MovementBatchView.as_view(), name="movement-batch"),
]

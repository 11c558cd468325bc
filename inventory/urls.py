from django.urls import path

from common.converters import converter_register
from inventory import views
from inventory.models import SKU_CODE_PATTERN

converter_register("sku_code", SKU_CODE_PATTERN)

app_name = "inventory"

urlpatterns = [
    path("availability", views.AvailabilityView.as_view(), name="availability"),
    path("skus", views.SkuSyncView.as_view(), name="sku-sync"),
    path("skus/<sku_code:code>", views.SkuDetailView.as_view(), name="sku-detail"),
    path("stock", views.StockListView.as_view(), name="stock-list"),
    path("inventory/movements", views.MovementBatchView.as_view(), name="movement-batch"),
    path("inventory/count-requests", views.CountRequestListView.as_view(), name="count-requests"),
    path("transfers", views.TransferListView.as_view(), name="transfer-list"),
    path(
        "transfers/<int:pk>/<str:action>",
        views.TransferActionView.as_view(),
        name="transfer-action",
    ),
]

from django.urls import path, register_converter

from inventory import views
from inventory.models import SKU_CODE_PATTERN


class SkuCodeConverter:
    """Only a well-formed SKU code matches: anything else (a NUL byte, say) is a 404 before
    it can reach the database."""

    regex = SKU_CODE_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SkuCodeConverter, "sku_code")

app_name = "inventory"

urlpatterns = [
    path("availability", views.AvailabilityView.as_view(), name="availability"),
    path("skus", views.SkuSyncView.as_view(), name="sku-sync"),
    path("skus/<sku_code:code>", views.SkuDetailView.as_view(), name="sku-detail"),
    path("stock", views.StockListView.as_view(), name="stock-list"),
    path("inventory/movements", views.MovementBatchView.as_view(), name="movement-batch"),
]

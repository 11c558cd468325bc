import django_filters
from django.db.models import F

from inventory.models import StockLevel


class StockLevelFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(field_name="location__code")
    sku = django_filters.CharFilter(field_name="sku__code")
    low = django_filters.BooleanFilter(method="filter_low", label="At or below safety stock")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock")

    class Meta:
        model = StockLevel
        fields = ["location", "sku", "low", "in_stock"]

    def filter_low(self, queryset, name, value):
        low = queryset.filter(on_hand__lte=F("reserved") + F("safety_stock"))
        return low if value else queryset.exclude(pk__in=low.values("pk"))

    def filter_in_stock(self, queryset, name, value):
        return (
            queryset.filter(on_hand__gt=F("reserved"))
            if value
            else queryset.filter(on_hand__lte=F("reserved"))
        )

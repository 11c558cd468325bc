import django_filters
from django.db.models import F
from rest_framework.exceptions import PermissionDenied

from inventory.models import StockLevel
from stores.selectors import location_ids_for_user, locations_by_code


class StockLevelFilter(django_filters.FilterSet):
    """Every query parameter is validated by this filter's form (NUL bytes included) before
    any of them reaches the database."""

    location = django_filters.CharFilter(method="filter_location", max_length=32)
    sku = django_filters.CharFilter(field_name="sku__code")
    low = django_filters.BooleanFilter(method="filter_low", label="At or below safety stock")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock")

    class Meta:
        model = StockLevel
        fields = ["location", "sku", "low", "in_stock"]

    def filter_location(self, queryset, name, value):
        allowed = location_ids_for_user(user=self.request.user)
        if allowed is not None:
            location = locations_by_code(codes=[value]).get(value)
            if location is None or location.pk not in allowed:
                raise PermissionDenied(f"Location {value} is not one of yours.")
        return queryset.filter(location__code=value)

    # Held units are on hand but never available: neither filter counts them.
    def filter_low(self, queryset, name, value):
        low = queryset.filter(on_hand__lte=F("reserved") + F("held") + F("safety_stock"))
        return low if value else queryset.exclude(pk__in=low.values("pk"))

    def filter_in_stock(self, queryset, name, value):
        unavailable = F("reserved") + F("held")
        return (
            queryset.filter(on_hand__gt=unavailable)
            if value
            else queryset.filter(on_hand__lte=unavailable)
        )

import django_filters
from rest_framework.exceptions import ValidationError

from stores.geo import parse_point
from stores.models import Location

# The API's names for the capabilities a location offers -> its flags.
CAPABILITIES = {
    "ship": Location.can_ship.field.name,
    "pickup": Location.can_pickup.field.name,
    "curbside": Location.can_curbside.field.name,
    "returns": Location.accepts_returns.field.name,
}


class LocationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Location.Kind.choices)
    active = django_filters.BooleanFilter(field_name="is_active")
    capability = django_filters.MultipleChoiceFilter(
        choices=[(key, key) for key in CAPABILITIES], method="filter_capability"
    )
    city = django_filters.CharFilter(lookup_expr="iexact")
    radius_km = django_filters.NumberFilter(method="filter_radius")

    class Meta:
        model = Location
        fields = ["kind", "active", "capability", "city", "radius_km"]

    def filter_capability(self, queryset, name, values):
        for value in values:
            queryset = queryset.filter(**{CAPABILITIES[value]: True})
        return queryset

    def filter_radius(self, queryset, name, value):
        # The same test as the view's: a blank near= is no point, so there is no distance.
        if near_param(self.data.get("near")) is None:
            raise ValidationError({"radius_km": ["radius_km needs near=lat,lng."]})
        return queryset.filter(distance_km__lte=value)


def near_param(raw: str | None) -> tuple[float, float] | None:
    if raw in (None, ""):
        return None
    try:
        return parse_point(raw)
    except ValueError:
        raise ValidationError({"near": ["Expected near=latitude,longitude in degrees."]}) from None

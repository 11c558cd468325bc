from rest_framework import serializers

from stores.models import Location


class LocationOutputSerializer(serializers.ModelSerializer):
    distance_km = serializers.SerializerMethodField()

    class Meta:
        model = Location
        fields = [
            "code", "name", "kind", "address_line1", "city", "postcode", "country",
            "latitude", "longitude", "timezone", "opening_hours", "is_active",
            "can_ship", "can_pickup", "can_curbside", "accepts_returns",
            "daily_ship_capacity", "pickup_hold_hours", "accept_sla_minutes", "distance_km",
        ]  # fmt: skip

    def get_distance_km(self, obj: Location) -> float | None:
        distance = getattr(obj, "distance_km", None)
        return None if distance is None else round(distance, 2)

"""What the customers API takes and answers."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Customer, PointsEntry
from customers.normalise import normalise_phone
from customers.selectors import customer_points_summary, customer_tier


class PointsExpiringOutputSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    on = serializers.DateField()


class PointsSummaryOutputSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Spendable now.")
    value = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The balance's money value."
    )
    held = serializers.IntegerField(help_text="Reserved by open orders.")
    pending = serializers.IntegerField(help_text="Earned by lines not yet shipped or handed over.")
    expiring = PointsExpiringOutputSerializer(many=True)


class CustomerDetailOutputSerializer(serializers.ModelSerializer):
    """One customer (a merged record is always answered by its survivor)."""

    tier = serializers.SerializerMethodField()
    points = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "name", "email", "phone", "member_id", "enrolled_at", "tier", "points"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_tier(self, customer: Customer) -> str | None:
        return customer_tier(customer)

    @extend_schema_field(PointsSummaryOutputSerializer)
    def get_points(self, customer: Customer) -> dict:
        return PointsSummaryOutputSerializer(customer_points_summary(customer)).data


class CustomerEnrolInputSerializer(serializers.Serializer):
    """Who joins: found by email, phone or an existing member id, created when new."""

    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    name = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")

    def validate_phone(self, value: str) -> str:
        try:
            return normalise_phone(value) or ""
        except ValueError:
            raise serializers.ValidationError("Not a valid phone number.") from None

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("phone"):
            raise serializers.ValidationError({"email": ["Give an email or a phone number."]})
        return attrs


class PointsEntryOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = PointsEntry
        fields = [
            "id",
            "kind",
            "points",
            "held",
            "pending",
            "source",
            "demand",
            "rate",
            "multiplier",
            "value",
            "reason",
            "actor",
            "created_at",
        ]


class PointsAdjustInputSerializer(serializers.Serializer):
    points = serializers.IntegerField(
        min_value=-10_000_000, max_value=10_000_000, help_text="Added (or, negative, taken)."
    )
    reason = serializers.CharField(max_length=255)

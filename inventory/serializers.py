from decimal import Decimal

from rest_framework import serializers

from inventory.models import (
    MAX_SKU_PRICE,
    SKU_CODE_PATTERN,
    CountRequest,
    Sku,
    StockLevel,
    StockMovement,
    Transfer,
)
from inventory.services import MAX_MOVEMENT_QUANTITY
from inventory.services.imports import IMPORTABLE_REASONS
from stores.geo import parse_point

Reason = StockMovement.Reason
MAX_BATCH = 1000


class SkuInputSerializer(serializers.Serializer):
    code = serializers.RegexField(f"^{SKU_CODE_PATTERN}$", max_length=64)
    name = serializers.CharField(max_length=200)
    barcode = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, max_value=MAX_SKU_PRICE
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="CNY")
    active = serializers.BooleanField(required=False, default=True, source="is_active")


class SkuBatchInputSerializer(serializers.Serializer):
    skus = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BATCH, allow_empty=False
    )


class SkuOutputSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = Sku
        fields = ["code", "name", "barcode", "price", "currency", "active", "updated_at"]


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField(required=False)
    status = serializers.CharField()
    error = serializers.JSONField(required=False)


class BatchOutputSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True)


class MovementInputSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=50)
    external_id = serializers.CharField(max_length=100)
    location = serializers.CharField(max_length=32)
    sku = serializers.CharField(max_length=64)
    reason = serializers.ChoiceField(choices=IMPORTABLE_REASONS)
    quantity = serializers.IntegerField(
        min_value=-MAX_MOVEMENT_QUANTITY, max_value=MAX_MOVEMENT_QUANTITY
    )
    counted_at = serializers.DateTimeField(required=False)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    member_id = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="A pos_sale to a loyalty member: the sale earns their points.",
    )
    paid = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("1000000000"),
        required=False,
        help_text="What the till took for these units (default: their price).",
    )

    def validate(self, attrs):
        reason, quantity = attrs["reason"], attrs["quantity"]
        if (attrs.get("member_id") or "paid" in attrs) and reason != Reason.POS_SALE:
            raise serializers.ValidationError(
                {"member_id": ["Only a pos_sale names a member or what was paid."]}
            )
        if reason == Reason.ADJUSTMENT and quantity == 0:
            raise serializers.ValidationError({"quantity": ["An adjustment must not be zero."]})
        if reason == Reason.CYCLE_COUNT and quantity < 0:
            raise serializers.ValidationError({"quantity": ["A count cannot be negative."]})
        if reason not in (Reason.ADJUSTMENT, Reason.CYCLE_COUNT) and quantity <= 0:
            raise serializers.ValidationError({"quantity": ["Must be a positive quantity."]})
        return attrs


class MovementBatchInputSerializer(serializers.Serializer):
    movements = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BATCH, allow_empty=False
    )


class AvailabilityQuerySerializer(serializers.Serializer):
    sku = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100
    )
    near = serializers.CharField(required=False)
    radius_km = serializers.FloatField(required=False, min_value=0, max_value=20000)
    location = serializers.CharField(required=False, max_length=32)

    def validate_near(self, value: str) -> tuple[float, float]:
        try:
            return parse_point(value)
        except ValueError:
            raise serializers.ValidationError("Expected latitude,longitude in degrees.") from None

    def validate(self, attrs):
        if "radius_km" in attrs and "near" not in attrs:
            raise serializers.ValidationError({"radius_km": ["radius_km needs near=lat,lng."]})
        return attrs


class AvailabilityRowSerializer(serializers.Serializer):
    location = serializers.CharField()
    sku = serializers.CharField()
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    held = serializers.IntegerField(
        help_text="On hand but never promised: returns awaiting inspection, damaged or not found."
    )
    available = serializers.IntegerField(help_text="Available to promise online.")
    distance_km = serializers.FloatField(allow_null=True)
    can_ship = serializers.BooleanField()
    can_pickup = serializers.BooleanField()


class AvailabilityOutputSerializer(serializers.Serializer):
    results = AvailabilityRowSerializer(many=True)
    truncated = serializers.BooleanField(
        help_text="More rows matched than one answer holds; narrow with radius_km or location."
    )


class StockLevelOutputSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="sku.code")
    sku_name = serializers.CharField(source="sku.name")
    available = serializers.IntegerField()
    available_to_promise = serializers.IntegerField(source="atp")

    class Meta:
        model = StockLevel
        fields = [
            "location", "sku", "sku_name", "on_hand", "reserved", "held", "safety_stock",
            "available", "available_to_promise", "updated_at",
        ]  # fmt: skip


class CountRequestOutputSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="sku.code")
    sku_name = serializers.CharField(source="sku.name")

    class Meta:
        model = CountRequest
        fields = [
            "id", "location", "sku", "sku_name", "quantity", "status", "reference", "note",
            "created_at", "counted_at",
        ]  # fmt: skip


class TransferRequestInputSerializer(serializers.Serializer):
    from_location = serializers.SlugField(max_length=32, help_text="The location asked.")
    to_location = serializers.SlugField(max_length=32, help_text="Your location.")
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class TransferDeclineInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TransferOutputSerializer(serializers.ModelSerializer):
    from_location = serializers.CharField(source="from_location.code")
    to_location = serializers.CharField(source="to_location.code")
    sku = serializers.CharField(source="sku.code")
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = Transfer
        fields = [
            "id", "from_location", "to_location", "sku", "quantity", "status", "note",
            "requested_by", "created_at", "shipped_at", "received_at",
        ]  # fmt: skip

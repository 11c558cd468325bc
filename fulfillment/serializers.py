from rest_framework import serializers

from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine


class FulfillmentLineOutputSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id")
    sku = serializers.CharField(source="order_line.sku_code")
    name = serializers.CharField(source="order_line.name")

    class Meta:
        model = FulfillmentOrderLine
        fields = ["line", "sku", "name", "quantity"]


class FulfillmentOrderOutputSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    location = serializers.CharField(source="location.code")
    destination = serializers.CharField(source="destination.code", default=None)
    lines = FulfillmentLineOutputSerializer(many=True)

    class Meta:
        model = FulfillmentOrder
        fields = [
            "id", "order", "location", "kind", "status", "destination", "lines", "created_at",
            "accepted_at", "ready_at", "pickup_deadline", "customer_arrived_at", "parking_spot",
            "carrier", "tracking_number", "completed_at", "rejection_reason", "rejection_note",
        ]  # fmt: skip


RejectReason = FulfillmentOrder.RejectReason


class RejectInputSerializer(serializers.Serializer):
    # Not accepted in time is the escalation's reason, never one staff give.
    reason = serializers.ChoiceField(
        choices=[(r.value, r.label) for r in RejectReason if r != RejectReason.SLA_EXPIRED]
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


class ShipInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=60)
    tracking_number = serializers.CharField(max_length=100)


class HandoverInputSerializer(serializers.Serializer):
    code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=12,
        default="",
        help_text="The customer's pickup code.",
    )
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        default="",
        help_text="Managers only: hand over without the code.",
    )

    def validate(self, attrs):
        if not attrs["code"] and not attrs["override_reason"]:
            raise serializers.ValidationError(
                {"code": ["Give the customer's pickup code, or a manager's override_reason."]}
            )
        return attrs


class ArrivedInputSerializer(serializers.Serializer):
    parking_spot = serializers.CharField(
        required=False, allow_blank=True, max_length=40, default=""
    )

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Sku
from payments.models import Payment
from returns.models import Condition, Disposition, Return, ReturnLine
from returns.policy import return_reasons
from returns.selectors import return_refunds
from stores.selectors import locations_by_code


def _location(code: str) -> object:
    location = locations_by_code(codes=[code]).get(code)
    if location is None:
        raise serializers.ValidationError(f"Unknown location: {code}")
    return location


@extend_schema_field(OpenApiTypes.STR)
class LocationCodeField(serializers.CharField):
    """A location by its code (unknown: a field error). A text field in an admin form."""

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        if len(code) > 32 or "\x00" in code:
            raise serializers.ValidationError("A location code.")
        return _location(code)

    def to_representation(self, value):
        return value.code


class ActiveSkuField(serializers.SlugRelatedField):
    """An active SKU by its code; a code no SKU could have (a NUL byte, too long) is a field
    error too, never looked up."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Sku.objects.filter(is_active=True), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or "\x00" in data or len(data) > 64:
            self.fail("invalid")
        return super().to_internal_value(data)


class ReturnLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, help_text="The order line's id.")
    quantity = serializers.IntegerField(min_value=1, max_value=settings.OMS_MAX_LINE_QUANTITY)
    reason = serializers.CharField(
        max_length=40, help_text=f"One of {', '.join(return_reasons())} (spaces allowed)."
    )
    note = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class ExchangeLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, help_text="The returned order line swapped.")
    sku = ActiveSkuField()
    quantity = serializers.IntegerField(min_value=1, max_value=settings.OMS_MAX_LINE_QUANTITY)


class ReturnOpenInputSerializer(serializers.Serializer):
    order = serializers.CharField(max_length=20, help_text="The order's number.")
    location = LocationCodeField(
        required=False, help_text="The store opening it at its counter; omitted: online."
    )
    lines = ReturnLineInputSerializer(many=True, allow_empty=False)
    exchange = ExchangeLineInputSerializer(many=True, required=False, default=list)
    exchange_tender = serializers.ChoiceField(
        choices=[Payment.Method.CARD_PRESENT, Payment.Method.CASH],
        default=Payment.Method.CARD_PRESENT,
        help_text="How the till takes what an exchange costs more.",
    )

    def validate(self, attrs):
        if attrs["exchange"] and "location" not in attrs:
            raise serializers.ValidationError(
                {"exchange": ["An exchange is made at a store's counter: give its location."]}
            )
        return attrs


class ReturnReceiveInputSerializer(serializers.Serializer):
    location = LocationCodeField(help_text="The location receiving the goods.")
    code = serializers.CharField(
        required=False, allow_blank=True, max_length=20,
        help_text="The return code the customer shows, checked against this return: wrong "
        "ones are counted, and too many lock it (429 return_code_locked).",
    )  # fmt: skip
    exchange_tender = serializers.ChoiceField(
        choices=[Payment.Method.CARD_PRESENT, Payment.Method.CASH],
        default=Payment.Method.CARD_PRESENT,
    )


class InspectionLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, help_text="The order line's id.")
    condition = serializers.ChoiceField(choices=Condition.choices)
    disposition = serializers.ChoiceField(choices=Disposition.choices)
    target = LocationCodeField(required=False, help_text="Where a transfer goes.")


class ReturnInspectInputSerializer(serializers.Serializer):
    lines = InspectionLineInputSerializer(many=True, allow_empty=False)


class ReturnRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class ReturnLineOutputSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id")
    sku = serializers.CharField(source="sku.code")
    target = serializers.CharField(source="target_location.code", default=None)

    class Meta:
        model = ReturnLine
        fields = [
            "line", "sku", "quantity", "reason", "note", "condition", "disposition", "target",
            "exchanged", "unit_paid", "fee", "refund_amount",
        ]  # fmt: skip


class ExchangeOutputSerializer(serializers.Serializer):
    line = serializers.IntegerField(source="order_line_id")
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()


class RefundOutputSerializer(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField()
    tender = serializers.CharField()
    status = serializers.CharField()


class ReturnOutputSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    location = serializers.CharField(source="location.code", default=None)
    opened_at = serializers.CharField(
        source="opened_at.code", default=None, help_text="The store it was opened at; null: online."
    )
    lines = ReturnLineOutputSerializer(many=True)
    exchange = ExchangeOutputSerializer(source="exchanges", many=True)
    exchange_order = serializers.CharField(source="exchange_order.number", default=None)
    refunds = serializers.SerializerMethodField()

    class Meta:
        model = Return
        fields = [
            "rma", "code", "status", "order", "location", "opened_at", "lines", "exchange",
            "exchange_order", "refund_total", "shipping_refunded", "refunds", "reject_reason",
            "created_at", "received_at", "inspected_at", "closed_at",
        ]  # fmt: skip

    @extend_schema_field(RefundOutputSerializer(many=True))
    def get_refunds(self, ret: Return) -> list[dict]:
        known = self.context.get("refunds")  # a list's page: read in one query
        rows = known[ret.rma] if known is not None else return_refunds(ret=ret)
        return RefundOutputSerializer(rows, many=True).data

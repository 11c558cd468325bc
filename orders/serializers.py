from django.conf import settings
from rest_framework import serializers

from customers.normalise import normalise_phone
from inventory.models import DeliveryMethod
from inventory.selectors import skus_by_code
from orders.models import ORDER_DELIVERY_METHODS, Channel, Order, OrderEvent, OrderLine
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.services.intake import delivery_location_problem, order_store_problem
from stores.models import Location
from stores.selectors import locations_by_code


class CustomerInputSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    name = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")
    loyalty_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        default="",
        help_text="Kept on a customer who has none yet; a different one is never replaced.",
    )

    def validate_phone(self, value: str) -> str:
        try:
            return normalise_phone(value) or ""
        except ValueError:
            raise serializers.ValidationError("Not a valid phone number.") from None

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("phone"):
            raise serializers.ValidationError({"email": ["Give an email or a phone number."]})
        return attrs


class CheckoutLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1)

    def validate_quantity(self, value: int) -> int:
        if value > settings.OMS_MAX_LINE_QUANTITY:
            raise serializers.ValidationError(f"At most {settings.OMS_MAX_LINE_QUANTITY} per line.")
        return value


class AddressInputSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=80)
    postcode = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, default="CN")
    latitude = serializers.FloatField(required=False, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, min_value=-180, max_value=180)

    def validate(self, attrs):
        if ("latitude" in attrs) != ("longitude" in attrs):
            raise serializers.ValidationError(
                {"latitude": ["Give latitude and longitude together."]}
            )
        # Without coordinates, checkout locates the address by its postcode or city.
        return attrs


class DeliveryInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=ORDER_DELIVERY_METHODS)
    location = serializers.CharField(required=False, max_length=32)
    address = AddressInputSerializer(required=False)
    ship_to_store = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Pickup or curbside: the customer accepts waiting while what the store "
        "lacks is sent there from another location.",
    )

    def validate(self, attrs):
        method = attrs["method"]
        if attrs["ship_to_store"] and method not in (
            DeliveryMethod.PICKUP,
            DeliveryMethod.CURBSIDE,
        ):
            raise serializers.ValidationError(
                {"ship_to_store": ["Only a pickup or curbside order can be sent to the store."]}
            )
        if method == DeliveryMethod.SHIP:
            if "address" not in attrs:
                raise serializers.ValidationError({"address": ["Required to ship."]})
            return attrs
        code = attrs.get("location")
        if not code:
            raise serializers.ValidationError({"location": [f"Required for {method}."]})
        location = locations_by_code(codes=[code]).get(code)
        if location is None:
            raise serializers.ValidationError({"location": [f"Unknown location: {code}"]})
        problem = delivery_location_problem(method=method, location=location)
        if problem:
            raise serializers.ValidationError({"location": [problem]})
        attrs["location"] = location
        return attrs


class CheckoutInputSerializer(serializers.Serializer):
    customer = CustomerInputSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    lines = CheckoutLineInputSerializer(many=True, allow_empty=False)
    delivery = DeliveryInputSerializer()
    store = serializers.CharField(
        required=False,
        max_length=32,
        help_text="Channel `store`: the code of the store where the order is taken. Staff who "
        "work at one store may leave it out; staff of several stores name one of theirs. "
        "An in-store sale is taken at its delivery location.",
    )

    def validate_store(self, code: str) -> Location:
        location = locations_by_code(codes=[code]).get(code)
        if location is None:
            raise serializers.ValidationError(f"Unknown location: {code}")
        problem = order_store_problem(location=location)
        if problem:
            raise serializers.ValidationError(problem)
        return location

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        if len(lines) > settings.OMS_MAX_LINES:
            raise serializers.ValidationError(f"At most {settings.OMS_MAX_LINES} lines.")
        skus = skus_by_code(codes=[line["sku"] for line in lines])
        errors, seen, currencies = [], set(), set()
        for line in lines:
            sku = skus.get(line["sku"])
            if sku is None or not sku.is_active:
                errors.append({"sku": [f"Unknown SKU: {line['sku']}"]})
            elif sku.code in seen:
                errors.append({"sku": [f"{sku.code} appears on more than one line."]})
            else:
                errors.append({})
                line["sku"] = sku
                seen.add(sku.code)
                currencies.add(sku.currency)
        if any(errors):
            raise serializers.ValidationError(errors)
        if len(currencies) > 1:
            raise serializers.ValidationError("Every line must be in one currency.")
        return lines

    def validate(self, attrs):
        method = attrs["delivery"]["method"]
        if method == DeliveryMethod.CARRY_OUT and attrs["channel"] != Channel.STORE:
            raise serializers.ValidationError(
                {"delivery": {"method": ["An in-store sale needs channel 'store'."]}}
            )
        store = attrs.get("store")
        if store is not None and attrs["channel"] != Channel.STORE:
            raise serializers.ValidationError(
                {"store": ["Only a store order is taken at a store."]}
            )
        if (
            store is not None
            and method == DeliveryMethod.CARRY_OUT
            and store != attrs["delivery"]["location"]
        ):
            raise serializers.ValidationError(
                {"store": ["An in-store sale is taken at its delivery location."]}
            )
        return attrs

    def to_request(self, *, store: Location | None = None) -> CheckoutRequest:
        """`store`: the store that took the order, when the caller established it."""
        data = self.validated_data
        delivery, customer = data["delivery"], data["customer"]
        location = delivery.get("location")
        if store is None and data["channel"] == Channel.STORE:
            store = data.get("store") or location
        return CheckoutRequest(
            channel=data["channel"],
            method=delivery["method"],
            lines=[
                CheckoutLine(sku=line["sku"], quantity=line["quantity"]) for line in data["lines"]
            ],
            email=customer.get("email") or None,
            phone=customer.get("phone") or None,
            name=customer.get("name", ""),
            loyalty_id=customer.get("loyalty_id", ""),
            location=location,
            address=dict(delivery["address"]) if "address" in delivery else None,
            store=store,
            ship_to_store=delivery["ship_to_store"],
        )


class ReservationOutputSerializer(serializers.Serializer):
    location = serializers.CharField()
    quantity = serializers.IntegerField()
    status = serializers.CharField()


class OrderLineOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku_code")
    reservations = serializers.SerializerMethodField()

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku",
            "name",
            "quantity",
            "unit_price",
            "line_discount",
            "quantity_cancelled",
            "quantity_fulfilled",
            "quantity_returned",
            "reservations",
        ]

    def get_reservations(self, line: OrderLine) -> list[dict]:
        by_reference = self.context.get("reservations", {})
        return by_reference.get(line.reservation_reference, [])


class CustomerOutputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    phone = serializers.CharField()
    name = serializers.CharField()


class OrderOutputSerializer(serializers.ModelSerializer):
    customer = CustomerOutputSerializer()
    delivery = serializers.SerializerMethodField()
    total = serializers.DecimalField(source="grand_total", max_digits=12, decimal_places=2)
    lines = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "return_status",
            "channel",
            "customer",
            "delivery",
            "currency",
            "subtotal",
            "shipping_total",
            "discount_total",
            "total",
            "lines",
            "created_at",
        ]

    def get_delivery(self, order: Order) -> dict:
        delivery = {"method": order.delivery_method}
        if order.pickup_location_id:
            delivery["location"] = order.pickup_location.code
        if order.shipping_address:
            delivery["address"] = order.shipping_address
        if order.ship_to_store:
            delivery["ship_to_store"] = True
        return delivery

    def get_lines(self, order: Order) -> list[dict]:
        lines = self.context.get("lines")  # a new order's, still in memory
        if lines is None:
            lines = order.lines.all()
        return OrderLineOutputSerializer(lines, many=True, context=self.context).data


class OrderSummaryOutputSerializer(serializers.ModelSerializer):
    customer = CustomerOutputSerializer()
    total = serializers.DecimalField(source="grand_total", max_digits=12, decimal_places=2)
    pickup_location = serializers.CharField(source="pickup_location.code", default=None)

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "return_status",
            "channel",
            "delivery_method",
            "pickup_location",
            "customer",
            "currency",
            "total",
            "created_at",
        ]


class OrderEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)
    location = serializers.CharField(source="location.code", default=None)

    class Meta:
        model = OrderEvent
        fields = ["kind", "message", "data", "actor", "location", "created_at"]


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


class LineCancelInputSerializer(OrderCancelInputSerializer):
    quantity = serializers.IntegerField(min_value=1)

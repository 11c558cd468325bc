"""What the orders API takes: a checkout as a storefront or a till sends it, a cancel."""

import threading
from decimal import Decimal

from django.conf import settings
from django.utils.functional import cached_property
from rest_framework import serializers

from common.models import Channel
from customers.normalise import normalise_phone
from customers.points import points_value
from inventory.models import DeliveryMethod
from inventory.selectors import skus_by_code
from orders.models import ORDER_DELIVERY_METHODS
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.services.intake import delivery_location_problem, order_store_problem
from orders.services.pricing import Discount
from payments.models import Payment
from payments.services import Tender
from stores.models import Location
from stores.selectors import locations_by_code


class FieldsOncePerThread:
    """A serializer whose fields (nested serializers and theirs included) are built and
    bound once per thread instead of deep-copied for every instance, as DRF does so that an
    instance may change its own fields. These fields are never changed and keep nothing of
    a request but their parent, which is set to the serializer at hand; one thread
    validates one request at a time, so no two serializers share them at once."""

    _built = threading.local()

    @cached_property
    def fields(self):
        fields = getattr(self._built, type(self).__qualname__, None)
        if fields is None:
            fields = super().fields
            setattr(self._built, type(self).__qualname__, fields)
        fields.serializer = self
        for field in fields.values():
            field.parent = self
        return fields


class CustomerInputSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    name = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")
    member_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        default="",
        help_text="The member's id (as printed, any case or spacing): finds the member, whose "
        "email and phone win over the ones given; unknown: 400.",
    )
    loyalty_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        default="",
        write_only=True,
        help_text="Deprecated: the member id's former name.",
    )

    def validate_phone(self, value: str) -> str:
        try:
            return normalise_phone(value) or ""
        except ValueError:
            raise serializers.ValidationError("Not a valid phone number.") from None

    def validate(self, attrs):
        attrs["member_id"] = attrs.get("member_id") or attrs.pop("loyalty_id", "")
        attrs.pop("loyalty_id", None)
        if not attrs.get("email") and not attrs.get("phone") and not attrs["member_id"]:
            raise serializers.ValidationError(
                {"email": ["Give an email, a phone number or a member id."]}
            )
        return attrs


# Money in: two decimals, not negative, at most what one SKU may cost times what one line
# may hold; whether it fits the order (its lines, its total, its currency) is pricing's rule.
MONEY_MAX = Decimal("1000000.00") * 1000


def money_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=MONEY_MAX, **kwargs
    )


def currency_field() -> serializers.RegexField:
    return serializers.RegexField(
        r"^[A-Z]{3}$", required=False, help_text="ISO 4217; when given, the order's currency."
    )


class CheckoutLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1)
    discount = money_field(
        required=False,
        default=Decimal("0.00"),
        help_text="The line's own discount (tax-inclusive), at most its value.",
    )

    def to_internal_value(self, data):
        # A price, a name or a total sent with a line would be silently ignored: the
        # catalogue prices every line, so the client is told instead.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Not a field of a line: the catalogue prices it."] for name in unknown}
                )
        return super().to_internal_value(data)

    def validate_quantity(self, value: int) -> int:
        if value > settings.OMS_MAX_LINE_QUANTITY:
            raise serializers.ValidationError(f"At most {settings.OMS_MAX_LINE_QUANTITY} per line.")
        return value


class DiscountInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=50)
    amount = money_field(help_text="Spread over the lines in proportion to their value.")
    currency = currency_field()


class PaymentInputSerializer(serializers.Serializer):
    """One tender: a card or gift card the storefront authorised through a gateway, cash
    or a card at the till (a store's order), captured at once, or the customer's loyalty
    points (`points`, worth LOYALTY_POINT_VALUE each; no amount)."""

    METHODS = [c for c in Payment.Method.choices if c[0] != Payment.Method.NOT_GIVEN]

    method = serializers.ChoiceField(choices=METHODS)
    amount = money_field(required=False)
    points = serializers.IntegerField(required=False, min_value=1, max_value=100_000_000)
    gateway = serializers.CharField(max_length=50, required=False, default="")
    reference = serializers.CharField(
        max_length=255, required=False, default="", help_text="The gateway's authorisation."
    )
    currency = currency_field()

    def validate(self, attrs):
        if attrs["method"] == Payment.Method.POINTS:
            if "points" not in attrs:
                raise serializers.ValidationError({"points": ["Required for points."]})
            if "amount" in attrs:
                raise serializers.ValidationError(
                    {"amount": ["A points tender is worth its points: give no amount."]}
                )
        elif "points" in attrs:
            raise serializers.ValidationError({"points": ["Only a points tender has points."]})
        elif "amount" not in attrs:
            raise serializers.ValidationError({"amount": ["This field is required."]})
        through_gateway = attrs["method"] in (Payment.Method.CARD, Payment.Method.GIFT_CARD)
        if through_gateway:
            for name in ("gateway", "reference"):
                if not attrs[name]:
                    raise serializers.ValidationError({name: [f"Required for {attrs['method']}."]})
        elif attrs["gateway"] or attrs["reference"]:
            raise serializers.ValidationError(
                {"gateway": ["Only a card or gift card goes through a gateway."]}
            )
        return attrs


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


class CheckoutInputSerializer(FieldsOncePerThread, serializers.Serializer):
    customer = CustomerInputSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    lines = CheckoutLineInputSerializer(many=True, allow_empty=False)
    delivery = DeliveryInputSerializer()
    discounts = DiscountInputSerializer(many=True, required=False, default=list)
    payments = PaymentInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text="Adding up to the order's total. None: the order is owed, one pending payment.",
    )
    store = serializers.CharField(
        required=False,
        max_length=32,
        help_text="Channel `store`: the code of the store where the order is taken. Staff who "
        "work at one store may leave it out; staff of several stores name one of theirs. "
        "An in-store sale is taken at its delivery location.",
    )
    enrol = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Make the customer a member: a member id is issued (shown on the order and "
        "its messages); a member keeps the id it has.",
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
        errors, seen = [], set()
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
        if any(errors):
            raise serializers.ValidationError(errors)
        return lines

    def validate_discounts(self, discounts: list[dict]) -> list[dict]:
        if len(discounts) > 20:
            raise serializers.ValidationError("At most 20 discounts.")
        return discounts

    def validate_payments(self, payments: list[dict]) -> list[dict]:
        if len(payments) > 20:
            raise serializers.ValidationError("At most 20 payments.")
        return payments

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
                CheckoutLine(sku=line["sku"], quantity=line["quantity"], discount=line["discount"])
                for line in data["lines"]
            ],
            email=customer.get("email") or None,
            phone=customer.get("phone") or None,
            name=customer.get("name", ""),
            member_id=customer.get("member_id", ""),
            enrol=data["enrol"],
            location=location,
            address=dict(delivery["address"]) if "address" in delivery else None,
            store=store,
            ship_to_store=delivery["ship_to_store"],
            discounts=tuple(
                Discount(code=d["code"], amount=d["amount"], currency=d.get("currency", ""))
                for d in data["discounts"]
            ),
            payments=tuple(
                Tender(
                    amount=points_value(p["points"]) if "points" in p else p["amount"],
                    method=p["method"],
                    gateway=p["gateway"],
                    reference=p["reference"],
                    points=p.get("points", 0),
                    at_once=delivery["method"] == DeliveryMethod.CARRY_OUT,
                )
                for p in data["payments"]
            ),
            payment_currencies=tuple(p.get("currency", "") for p in data["payments"]),
        )


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


class LineCancelInputSerializer(OrderCancelInputSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=settings.OMS_MAX_LINE_QUANTITY)

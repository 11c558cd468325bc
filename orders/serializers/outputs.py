"""What the orders API answers: an order with its lines, reservations, money and timeline."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import Order, OrderEvent, OrderLine
from orders.references import LineReference
from orders.services.pricing import order_totals_display
from payments.models import Payment
from payments.selectors import payments_of_demand


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
            "order_discount",
            "unit_paid",
            "units_paid_extra",
            "quantity_cancelled",
            "quantity_fulfilled",
            "quantity_returned",
            "reservations",
        ]

    def get_reservations(self, line: OrderLine) -> list[dict]:
        by_reference = self.context.get("reservations", {})
        return by_reference.get(line.reservation_reference, [])


class TotalsOutputSerializer(serializers.Serializer):
    """The order's money now: what the lines still due come to (cancelled units left out),
    what its tenders authorized, captured and refunded, and the balance the customer still
    owes (negative: what is owed back to them)."""

    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    shipping = serializers.DecimalField(max_digits=12, decimal_places=2)
    grand_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    authorized = serializers.DecimalField(max_digits=14, decimal_places=2)
    captured = serializers.DecimalField(max_digits=14, decimal_places=2)
    refunded = serializers.DecimalField(max_digits=14, decimal_places=2)
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)


class PaymentOutputSerializer(serializers.ModelSerializer):
    method = serializers.CharField(help_text="Blank: nothing tendered yet (owed).")

    class Meta:
        model = Payment
        fields = ["method", "amount", "authorized", "captured", "refunded", "status"]


class DiscountOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


def order_payments(order: Order, context: dict) -> list[Payment]:
    """The order's tenders: as the view read them (`context["payments"]`, by order number),
    else read now."""
    known = context.get("payments")
    if known is not None and order.number in known:
        return known[order.number]
    return payments_of_demand(demand=order.number)


class OrderMoneyMixin(serializers.Serializer):
    totals = serializers.SerializerMethodField()

    @extend_schema_field(TotalsOutputSerializer)
    def get_totals(self, order: Order) -> dict[str, str]:
        return order_totals_display(order=order, payments=order_payments(order, self.context))


class CustomerOutputSerializer(serializers.Serializer):
    email = serializers.EmailField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    member_id = serializers.CharField(
        allow_null=True, help_text="Null unless the customer is a member."
    )


def order_delivery(order: Order) -> dict:
    delivery = {"method": order.delivery_method}
    if order.pickup_location_id:
        delivery["location"] = order.pickup_location.code
    if order.shipping_address:
        delivery["address"] = order.shipping_address
    if order.ship_to_store:
        delivery["ship_to_store"] = True
    return delivery


class OrderOutputSerializer(OrderMoneyMixin, serializers.ModelSerializer):
    customer = CustomerOutputSerializer()
    delivery = serializers.SerializerMethodField()
    total = serializers.DecimalField(
        source="grand_total", max_digits=12, decimal_places=2, help_text="= totals.grand_total"
    )
    lines = serializers.SerializerMethodField()
    discounts = DiscountOutputSerializer(many=True, read_only=True)
    payments = serializers.SerializerMethodField()

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
            "discounts",
            "totals",
            "payments",
            "lines",
            "created_at",
        ]

    @extend_schema_field(PaymentOutputSerializer(many=True))
    def get_payments(self, order: Order) -> list[dict]:
        return PaymentOutputSerializer(order_payments(order, self.context), many=True).data

    def get_delivery(self, order: Order) -> dict:
        return order_delivery(order)

    @extend_schema_field(OrderLineOutputSerializer(many=True))
    def get_lines(self, order: Order) -> list[dict]:
        lines = self.context.get("lines")  # a new order's, still in memory
        if lines is None:
            lines = order.lines.all()
        return OrderLineOutputSerializer(lines, many=True, context=self.context).data


class OrderSummaryOutputSerializer(OrderMoneyMixin, serializers.ModelSerializer):
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
            "totals",
            "created_at",
        ]


class OrderEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)
    location = serializers.CharField(source="location.code", default=None)

    class Meta:
        model = OrderEvent
        fields = ["kind", "message", "data", "actor", "location", "created_at"]


# The fields' own formatting (two decimals as a string, the datetime in the current zone),
# so the plain answer below reads exactly as OrderOutputSerializer's.
_MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)
_WHEN = serializers.DateTimeField()


def order_placed_output(
    order: Order,
    *,
    lines: list[OrderLine],
    reservations: dict[str, list[dict]],
    payments: list[Payment],
) -> dict:
    """A new order exactly as OrderOutputSerializer shows it, built as plain values: checkout
    answers every order with it, and the serializer's machinery would cost more than the
    rest of the answer."""
    money = _MONEY.to_representation
    customer = order.customer
    number = order.number
    return {
        "number": number,
        "status": str(order.status),
        "return_status": str(order.return_status),
        "channel": str(order.channel),
        "customer": None
        if customer is None
        else {
            "email": customer.email,
            "phone": customer.phone,
            "name": customer.name,
            "member_id": customer.member_id,
        },
        "delivery": order_delivery(order),
        "currency": order.currency,
        "subtotal": money(order.subtotal),
        "shipping_total": money(order.shipping_total),
        "discount_total": money(order.discount_total),
        "total": money(order.grand_total),
        "discounts": [
            {"code": str(d["code"]), "amount": money(d["amount"])} for d in order.discounts
        ],
        "totals": order_totals_display(order=order, payments=payments),
        "payments": [
            {
                "method": str(p.method),
                "amount": money(p.amount),
                "authorized": money(p.authorized),
                "captured": money(p.captured),
                "refunded": money(p.refunded),
                "status": str(p.status),
            }
            for p in payments
        ],
        "lines": [
            {
                "id": line.pk,
                "sku": line.sku_code,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price),
                "line_discount": money(line.line_discount),
                "order_discount": money(line.order_discount),
                "unit_paid": money(line.unit_paid),
                "units_paid_extra": line.units_paid_extra,
                "quantity_cancelled": line.quantity_cancelled,
                "quantity_fulfilled": line.quantity_fulfilled,
                "quantity_returned": line.quantity_returned,
                "reservations": reservations.get(
                    str(LineReference(number=number, line_id=line.pk)), []
                ),
            }
            for line in lines
        ],
        "created_at": _WHEN.to_representation(order.created_at),
    }

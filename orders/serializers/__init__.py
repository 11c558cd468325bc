"""The orders API's serializers: what it takes (`inputs`) and what it answers (`outputs`)."""

from orders.serializers.inputs import (
    CheckoutInputSerializer,
    LineCancelInputSerializer,
    OrderCancelInputSerializer,
)
from orders.serializers.outputs import (
    OrderEventOutputSerializer,
    OrderOutputSerializer,
    OrderSummaryOutputSerializer,
)

__all__ = [
    "CheckoutInputSerializer",
    "LineCancelInputSerializer",
    "OrderCancelInputSerializer",
    "OrderEventOutputSerializer",
    "OrderOutputSerializer",
    "OrderSummaryOutputSerializer",
]

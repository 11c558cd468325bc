from django.db.models import prefetch_related_objects
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import DomainError
from common.idempotency import (
    IDEMPOTENCY_HEADER,
    IdempotencyKey,
    IdempotentResult,
    idempotency_key_of,
    idempotent,
    idempotent_replay,
)
from common.schema import ErrorOutputSerializer, InvalidOutputSerializer
from common.throttling import ScopedWindowThrottle
from inventory.models import Reservation
from inventory.selectors import reservations_for_demand
from orders import selectors
from orders.filters import OrderFilter
from orders.models import Order, OrderLine
from orders.serializers import (
    CheckoutInputSerializer,
    LineCancelInputSerializer,
    OrderCancelInputSerializer,
    OrderEventOutputSerializer,
    OrderOutputSerializer,
    OrderSummaryOutputSerializer,
)
from orders.serializers.outputs import order_placed_output
from orders.services.checkout import CheckoutRequest, PlacedOrder, checkout
from orders.services.intake import checkout_request_complete
from orders.services.lifecycle import order_cancel, order_line_cancel
from payments.selectors import payments_of_demands


def render_order(order: Order) -> dict:
    """The order as every endpoint shows it, with where each line is held."""
    held: dict[str, list[dict]] = {}
    for reservation in reservations_for_demand(demand=order.number):
        if reservation.status == Reservation.Status.RELEASED:
            continue
        held.setdefault(reservation.reference, []).append(
            {
                "location": reservation.location.code,
                "quantity": reservation.quantity,
                "status": reservation.status,
            }
        )
    # The order as its selector or service left it (customer and pickup store read with it).
    prefetch_related_objects([order], "lines", "customer", "pickup_location")
    payments = payments_of_demands(demands=[order.number])
    return OrderOutputSerializer(order, context={"reservations": held, "payments": payments}).data


def render_placed(placed: PlacedOrder) -> dict:
    """A new order as GET /orders/{number} will show it, from memory: no query."""
    return order_placed_output(
        placed.order,
        lines=placed.lines,
        reservations=placed.reservations,
        payments=placed.payments,
    )


def checkout_idempotent(
    *, request: CheckoutRequest, key: IdempotencyKey, replay_checked: bool = False
) -> IdempotentResult[PlacedOrder]:
    """Checkout once per (client, Idempotency-Key), answered as the API answers: 201 and
    the new order, or the first answer replayed."""
    return idempotent(
        key=key,
        service_recording=lambda call: checkout(request=request, actor=key.actor, idempotency=call),
        render=render_placed,
        reference=lambda placed: placed.order.number,
        replay_checked=replay_checked,
    )


class CheckoutView(APIView):
    """Place an order: routes, reserves every line and records the order in one transaction."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [ScopedWindowThrottle]
    throttle_scope = "checkout"

    @extend_schema(
        request=CheckoutInputSerializer,
        responses={
            201: OrderOutputSerializer,
            400: OpenApiResponse(
                InvalidOutputSerializer,
                description="`invalid` (field errors in `errors`), `unknown_member`, "
                "`duplicate_lines`, `order_total_too_large`, `payment_invalid`; `invalid` "
                "without an Idempotency-Key; `parse_error`: a body that is not JSON.",
            ),
            409: OpenApiResponse(
                ErrorOutputSerializer,
                description="`insufficient_stock` (per-line shortages, nearby alternatives, "
                "`ship_to_store_available`), `ship_capacity_exhausted`.",
            ),
        },
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
    )
    def post(self, request: Request) -> Response:
        scope = idempotency_key_of(request)
        # A fresh key is the usual case, so the key is looked up only when something fails
        # (a key already used fails where its record is written, before any stock is locked).
        try:
            payload = CheckoutInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            checkout_request = checkout_request_complete(
                request=payload.to_request(),
                user=request.user,
                auth=request.auth,
                store=payload.validated_data.get("store"),
            )
        except (APIException, DomainError):
            # A retry gets the first answer even if its SKU or store is gone since, and a
            # used key with another body is 422 whatever that body.
            result = idempotent_replay(key=scope)
            if result is None:
                raise
        else:
            result = checkout_idempotent(request=checkout_request, key=scope, replay_checked=True)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(result.body, status=result.status, headers=headers)


class OrderListPagination(LimitOffsetPagination):
    max_limit = 200  # a page is one bounded query, whatever `limit` asks for


class OrderListView(generics.ListAPIView):
    """Orders the caller may see; `customer` (email, phone or member id) gives one customer's
    history across web, app and stores."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrderSummaryOutputSerializer
    pagination_class = OrderListPagination

    filter_backends = [DjangoFilterBackend]
    filterset_class = OrderFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return selectors.order_list(user=self.request.user, auth=self.request.auth)

    def get_serializer(self, *args, **kwargs):
        page = args[0] if args else None
        if page is not None:  # the page's tenders in one query, for their totals
            kwargs["context"] = {
                **self.get_serializer_context(),
                "payments": payments_of_demands(demands=[order.number for order in page]),
            }
        return super().get_serializer(*args, **kwargs)


@extend_schema(exclude=True)
class OrderNotFoundView(APIView):
    """Anything under orders/ that is not one of our order numbers: a 404, with no query."""

    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request, *args, **kwargs) -> Response:
        raise NotFound("No such order.")

    post = put = patch = delete = options = get


class OrderViewMixin:
    permission_classes = [permissions.IsAuthenticated]

    def get_order(self, request: Request, number: str) -> Order:
        try:
            return selectors.order_get(number=number, user=request.user, auth=request.auth)
        except Order.DoesNotExist:
            raise NotFound(f"No order {number}.") from None

    def get_order_to_change(self, request: Request, number: str) -> Order:
        order = self.get_order(request, number)
        if not selectors.order_can_change(order=order, user=request.user, auth=request.auth):
            raise PermissionDenied("Only the order's channel or its stores may change it.")
        return order


class OrderDetailView(OrderViewMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request: Request, number: str) -> Response:
        return Response(render_order(self.get_order(request, number)))


class OrderTimelineView(OrderViewMixin, APIView):
    """Every event of the order, oldest first: placed, reserved, routed, ... refunded."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OrderEventOutputSerializer(many=True))
    def get(self, request: Request, number: str) -> Response:
        order = self.get_order(request, number)
        events = OrderEventOutputSerializer(selectors.order_timeline(order=order), many=True).data
        return Response({"number": order.number, "status": order.status, "results": events})


class OrderCancelView(OrderViewMixin, APIView):
    """Cancel every open line; reservations are released at once. 409 when too late."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=OrderCancelInputSerializer, responses=OrderOutputSerializer)
    def post(self, request: Request, number: str) -> Response:
        order = self.get_order_to_change(request, number)
        payload = OrderCancelInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = order_cancel(
            order=order, actor=request.user, reason=payload.validated_data["reason"]
        )
        return Response(render_order(order), status=status.HTTP_200_OK)


class OrderLineCancelView(OrderViewMixin, APIView):
    """Cancel some units of one line; its reservation shrinks by as much."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=LineCancelInputSerializer, responses=OrderOutputSerializer)
    def post(self, request: Request, number: str, line_id: int) -> Response:
        order = self.get_order_to_change(request, number)
        payload = LineCancelInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            order = order_line_cancel(
                order=order, line_id=line_id, actor=request.user, **payload.validated_data
            )
        except OrderLine.DoesNotExist:
            raise NotFound(f"No line {line_id} on order {number}.") from None
        return Response(render_order(order))

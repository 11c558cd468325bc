import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment import selectors
from fulfillment.models import FULFILLMENT_KIND_CHOICES, FulfillmentOrder
from fulfillment.serializers import (
    ArrivedInputSerializer,
    FulfillmentOrderOutputSerializer,
    HandoverInputSerializer,
    RejectInputSerializer,
    ShipInputSerializer,
)
from fulfillment.services import actions, transfers
from orders.selectors import order_list, token_channel
from stores.permissions import IsLocationStaff

QUEUES = {
    "to_accept": [FulfillmentOrder.Status.PENDING],
    "to_pick": [FulfillmentOrder.Status.ACCEPTED],
    "to_pack": [FulfillmentOrder.Status.PICKED],
    "ready": [FulfillmentOrder.Status.READY_FOR_PICKUP],
}
# Transfers on their way to the caller's stores, for them to receive.
INCOMING = "incoming"

# action -> (service, input serializer or None)
ACTIONS = {
    "accept": (actions.fulfillment_accept, None),
    "reject": (actions.fulfillment_reject, RejectInputSerializer),
    "pick": (actions.fulfillment_pick, None),
    "pack": (actions.fulfillment_pack, None),
    "ship": (actions.fulfillment_ship, ShipInputSerializer),
    "ready": (actions.fulfillment_ready, None),
    "handover": (actions.fulfillment_handover, HandoverInputSerializer),
    "receive": (transfers.fulfillment_receive, None),
    "resend-code": (actions.fulfillment_resend_code, None),
}
# Actions taken by the store a transfer goes to, not by the location that sends it.
AT_DESTINATION = {"receive"}


class FulfillmentOrderFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(field_name="location__code")
    order = django_filters.CharFilter(field_name="order__number")
    status = django_filters.MultipleChoiceFilter(choices=FulfillmentOrder.Status.choices)
    kind = django_filters.ChoiceFilter(choices=FULFILLMENT_KIND_CHOICES)
    queue = django_filters.ChoiceFilter(
        choices=[(q, q) for q in [*QUEUES, "late", INCOMING]], method="filter_queue"
    )

    class Meta:
        model = FulfillmentOrder
        fields = ["location", "order", "status", "kind", "queue"]

    def filter_queue(self, queryset, name, value):
        if value == INCOMING:
            return queryset  # the view lists the caller's incoming transfers instead
        if value == "late":
            return selectors.late_queue(queryset)
        return queryset.filter(status__in=QUEUES[value])


class FulfillmentOrderListView(generics.ListAPIView):
    """The work of the caller's locations: filter by location, status, kind, order, queue.

    `queue=incoming` lists the transfers on their way to the caller's stores instead.
    """

    permission_classes = [IsLocationStaff]
    serializer_class = FulfillmentOrderOutputSerializer
    filterset_class = FulfillmentOrderFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FulfillmentOrder.objects.none()
        user = self.request.user
        if self.request.query_params.get("queue") == INCOMING:
            return selectors.incoming_transfer_list(user=user).order_by("created_at", "pk")
        return selectors.fulfillment_order_list(user=user).order_by("created_at", "pk")


class FulfillmentOrderDetailView(APIView):
    permission_classes = [IsLocationStaff]

    @extend_schema(responses=FulfillmentOrderOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(FulfillmentOrderOutputSerializer(_get(request, pk)).data)


def _get(request: Request, pk: int, *, at_destination: bool = False) -> FulfillmentOrder:
    try:
        if at_destination:
            return selectors.transfers_to_stores_of(user=request.user).get(pk=pk)
        return selectors.fulfillment_order_get(pk=pk, user=request.user)
    except FulfillmentOrder.DoesNotExist:
        raise NotFound(f"No fulfillment order {pk} at your locations.") from None


class FulfillmentActionView(APIView):
    """accept, reject {reason, note}, pick, pack, ship {carrier, tracking_number}, ready,
    handover {code} or {override_reason} (manager); resend-code (a new pickup code for the
    customer); receive, by the store a transfer goes to. 409 when the status does not allow
    it."""

    permission_classes = [IsLocationStaff]

    @extend_schema(request=HandoverInputSerializer, responses=FulfillmentOrderOutputSerializer)
    def post(self, request: Request, pk: int, action: str) -> Response:
        if action not in ACTIONS:
            raise NotFound(f"Unknown action {action}.")
        service, input_serializer = ACTIONS[action]
        fo = _get(request, pk, at_destination=action in AT_DESTINATION)
        kwargs = {}
        if input_serializer is not None:
            payload = input_serializer(data=request.data)
            payload.is_valid(raise_exception=True)
            kwargs = payload.validated_data
        fo = service(fulfillment_order=fo, actor=request.user, **kwargs)
        fo = _get(request, fo.pk, at_destination=action in AT_DESTINATION)
        return Response(FulfillmentOrderOutputSerializer(fo).data)


class PickupArrivedView(APIView):
    """Curbside: the customer is outside (optionally at a parking spot); the store is alerted.

    Called by the customer's app (a channel client that can see the order) or by staff."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ArrivedInputSerializer, responses=FulfillmentOrderOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        payload = ArrivedInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            if token_channel(request.auth) and not request.user.is_superuser:
                visible = order_list(user=request.user, auth=request.auth).values("number")
                fo = selectors.pickup_for_customer(pk=pk, order_numbers=visible)
            else:
                fo = selectors.fulfillment_order_get(pk=pk, user=request.user)
        except FulfillmentOrder.DoesNotExist:
            raise NotFound(f"No pickup {pk}.") from None
        fo = actions.fulfillment_customer_arrived(
            fulfillment_order=fo, actor=request.user, **payload.validated_data
        )
        return Response(FulfillmentOrderOutputSerializer(fo).data)

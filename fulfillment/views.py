import inspect

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import BodyCheckedMixin
from common.schema import ErrorDocumentingAutoSchema
from fulfillment import selectors
from fulfillment.models import FULFILLMENT_KIND_CHOICES, FulfillmentOrder
from fulfillment.selectors import Queue
from fulfillment.serializers import (
    ArrivedInputSerializer,
    FulfillmentOrderOutputSerializer,
)
from fulfillment.services import actions
from fulfillment.staff_actions import STAFF_ACTIONS
from orders.selectors import customer_channel, order_list
from stores.permissions import IsLocationStaff


class FulfillmentOrderFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(field_name="location__code")
    order = django_filters.CharFilter(field_name="order__number")
    status = django_filters.MultipleChoiceFilter(choices=FulfillmentOrder.Status.choices)
    kind = django_filters.ChoiceFilter(choices=FULFILLMENT_KIND_CHOICES)
    queue = django_filters.ChoiceFilter(choices=Queue.choices, method="filter_queue")

    class Meta:
        model = FulfillmentOrder
        fields = ["location", "order", "status", "kind", "queue"]

    def filter_queue(self, queryset, name, value):
        return selectors.fulfillment_queue(queryset, queue=value, user=self.request.user)


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
        if self.request.query_params.get("queue") == Queue.INCOMING:
            # Not the caller's own work: what is on its way to the caller's stores.
            return selectors.transfers_to_stores_of(user=user).order_by("created_at", "pk")
        return selectors.fulfillment_order_list(user=user).order_by("created_at", "pk")


class FulfillmentOrderDetailView(APIView):
    permission_classes = [IsLocationStaff]

    @extend_schema(responses=FulfillmentOrderOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(FulfillmentOrderOutputSerializer(_get(request, pk)).data)


def _get(request: Request, pk: int, *, at_destination: bool = False) -> FulfillmentOrder:
    try:
        return selectors.fulfillment_order_get(
            pk=pk, user=request.user, at_destination=at_destination
        )
    except FulfillmentOrder.DoesNotExist:
        raise NotFound(f"No fulfillment order {pk} at your locations.") from None


class StaffActionSchema(ErrorDocumentingAutoSchema):
    """Each action's path documents that action's body (none for most) and contract."""

    def get_request_serializer(self):
        return STAFF_ACTIONS[self.view.staff_action_name].input_serializer

    def get_description(self) -> str:
        return inspect.getdoc(STAFF_ACTIONS[self.view.staff_action_name].service) or ""


class FulfillmentActionView(BodyCheckedMixin, APIView):
    """accept, reject {reason, note}, pick, pack, ship {carrier, tracking_number}, ready,
    handover {code} or {override_reason} (manager); resend-code (a new pickup code for the
    customer); receive, by the store a transfer goes to. 409 when the status does not allow
    it."""

    permission_classes = [IsLocationStaff]
    schema = StaffActionSchema()
    staff_action_name = ""  # a name in STAFF_ACTIONS, set by each action's path

    @extend_schema(responses=FulfillmentOrderOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        staff_action = STAFF_ACTIONS[self.staff_action_name]
        fo = _get(request, pk, at_destination=staff_action.at_destination)
        kwargs = {}
        if staff_action.input_serializer is not None:
            payload = staff_action.input_serializer(data=request.data)
            payload.is_valid(raise_exception=True)
            kwargs = payload.validated_data
        fo = staff_action.service(fulfillment_order=fo, actor=request.user, **kwargs)
        fo = _get(request, fo.pk, at_destination=staff_action.at_destination)
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
            if customer_channel(request.auth) and not request.user.is_superuser:
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

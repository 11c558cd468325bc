"""The customers API: exact lookups, one customer, enrolment.

Who: sales channels' clients and staff of any location (`IsStaffOrChannelClient`). Anyone
of them finds a customer by an exact phone, email or member id, as a store serves any
customer at the counter; nobody lists everyone. By id, a caller opens only the customers
it serves (a channel: who ordered through it; staff: who has orders at their locations;
see `customer_get`), so ids cannot be walked.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.idempotency import IDEMPOTENCY_HEADER, idempotency_key_of
from common.throttling import ScopedWindowThrottle
from customers.filters import CustomerFilter
from customers.models import Customer, PointsEntry
from customers.permissions import IsStaffOrChannelClient, PointsAdjuster
from customers.points import points_adjust
from customers.selectors import customer_get, customer_points_summary, customer_tier, points_ledger
from customers.serializers import (
    CustomerDetailOutputSerializer,
    CustomerEnrolInputSerializer,
    PointsAdjustInputSerializer,
    PointsEntryOutputSerializer,
)
from customers.services import customer_get_or_create


class CustomerListView(generics.ListAPIView):
    """Customers by exact phone, email or member id (normalised: any format or case); at
    least one is required (400 otherwise). A merged record answers with its survivor."""

    permission_classes = [IsStaffOrChannelClient]
    throttle_classes = [ScopedWindowThrottle]
    throttle_scope = "customer_lookup"
    serializer_class = CustomerDetailOutputSerializer
    filterset_class = CustomerFilter
    queryset = Customer.objects.all()


class CustomerDetailView(APIView):
    """One customer the caller serves, with member id, tier and points."""

    permission_classes = [IsStaffOrChannelClient]

    @extend_schema(responses={200: CustomerDetailOutputSerializer})
    def get(self, request: Request, pk: int) -> Response:
        try:
            customer = customer_get(pk=pk, user=request.user, auth=request.auth)
        except Customer.DoesNotExist:
            raise NotFound("No such customer.") from None
        return Response(CustomerDetailOutputSerializer(customer).data)


class CustomerEnrolView(APIView):
    """Enrol a customer as a member (at a till, or a storefront's sign-up): found by email
    or phone, created when new; a member id is issued, or the one it has is kept."""

    permission_classes = [IsStaffOrChannelClient]

    @extend_schema(
        request=CustomerEnrolInputSerializer, responses={200: CustomerDetailOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = CustomerEnrolInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        customer = customer_get_or_create(
            email=data.get("email") or None,
            phone=data.get("phone") or None,
            name=data.get("name", ""),
            enrol=True,
        )
        return Response(CustomerDetailOutputSerializer(customer).data, status=status.HTTP_200_OK)


class CustomerPointsView(generics.ListAPIView):
    """A customer's points ledger, newest first (paginated), with the account's summary and
    tier; the same customers as the detail (404 for one the caller does not serve)."""

    permission_classes = [IsStaffOrChannelClient]
    serializer_class = PointsEntryOutputSerializer

    def _customer(self) -> Customer:
        try:
            return customer_get(
                pk=self.kwargs["pk"], user=self.request.user, auth=self.request.auth
            )
        except Customer.DoesNotExist:
            raise NotFound("No such customer.") from None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no customer to read
            return PointsEntry.objects.none()
        self.customer = self._customer()
        return points_ledger(customer=self.customer).select_related("actor")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        summary = {
            "tier": customer_tier(self.customer),
            "points": customer_points_summary(self.customer),
        }
        response.data = {**summary, **response.data}
        return response


class CustomerPointsAdjustView(APIView):
    """A manager adds or takes points, with a reason, under an Idempotency-Key: a retry
    with the same key is the same adjustment (the first is answered again)."""

    permission_classes = [PointsAdjuster]

    @extend_schema(
        request=PointsAdjustInputSerializer,
        responses=PointsEntryOutputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            customer = customer_get(pk=pk, user=request.user, auth=request.auth)
        except Customer.DoesNotExist:
            raise NotFound("No such customer.") from None
        data = PointsAdjustInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = idempotency_key_of(request)  # 400 without one
        entry = points_adjust(
            customer=customer,
            points=data.validated_data["points"],
            reason=data.validated_data["reason"],
            actor=request.user,
            source=f"adjust/{request.user.pk}/{key.key}",
        )
        return Response(PointsEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)

"""The customers API: a customer's loyalty account and its ledger."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.idempotency import idempotency_key_of
from customers.models import Customer
from customers.permissions import CustomerReader, PointsAdjuster
from customers.points import points_adjust
from customers.selectors import customer_points_summary, points_ledger
from customers.serializers import PointsAdjustInputSerializer, PointsEntryOutputSerializer


class CustomerPointsView(generics.ListAPIView):
    """The customer's points ledger, newest first (paginated), with the account's summary."""

    permission_classes = [CustomerReader]
    serializer_class = PointsEntryOutputSerializer

    def get_queryset(self):
        customer = get_object_or_404(Customer, pk=self.kwargs["pk"])
        return points_ledger(customer=customer).select_related("actor")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        customer = Customer.objects.get(pk=self.kwargs["pk"])
        response.data = {**customer_points_summary(customer=customer), **response.data}
        return response


class CustomerPointsAdjustView(APIView):
    """A manager adds or takes points, with a reason, under an Idempotency-Key: a retry
    with the same key is the same adjustment (the first is answered again)."""

    permission_classes = [PointsAdjuster]

    @extend_schema(request=PointsAdjustInputSerializer, responses=PointsEntryOutputSerializer)
    def post(self, request, pk: int):
        customer = get_object_or_404(Customer, pk=pk)
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

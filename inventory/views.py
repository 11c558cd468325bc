from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import BodyCheckedMixin
from common.permissions import has_django_permission
from common.renderers import JSONRenderer, RenderedJSON
from inventory import selectors, services
from inventory.filters import CountRequestFilter, StockLevelFilter
from inventory.serializers import (
    AvailabilityOutputSerializer,
    AvailabilityQuerySerializer,
    BatchOutputSerializer,
    CountRequestOutputSerializer,
    MovementBatchInputSerializer,
    MovementInputSerializer,
    SkuBatchInputSerializer,
    SkuInputSerializer,
    SkuOutputSerializer,
    StockLevelOutputSerializer,
    TransferDeclineInputSerializer,
    TransferOutputSerializer,
    TransferRequestInputSerializer,
)
from inventory.services.batches import RejectedRow, RowStatus
from inventory.services.catalogue import sku_sync_batch
from inventory.services.imports import movement_import_batch
from stores.permissions import IsLocationStaff
from stores.selectors import location_ids_for_user, locations_by_code

# Rows per answer; more is cut off (nearest kept with near=) and flagged `truncated`.
AVAILABILITY_LIMIT = 1000


def _checked_rows(
    raw_rows: list[dict], serializer_class, *, code_field: str | None = None
) -> list[dict | RejectedRow]:
    """Each row's validated data, or its field errors (and the code it named)."""
    rows: list[dict | RejectedRow] = []
    for raw in raw_rows:
        row = serializer_class(data=raw)
        if row.is_valid():
            rows.append(row.validated_data)
        else:
            code = raw.get(code_field) if code_field else None
            rows.append(RejectedRow(row.errors, code=code if isinstance(code, str) else None))
    return rows


def _batch_response(results: list[dict]) -> Response:
    """200 when any row went through; 400 (same per-row results) when none could."""
    if results and all(row["status"] == RowStatus.ERROR for row in results):
        return Response(
            {"code": "invalid", "detail": "No row could be applied.", "results": results},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return Response({"results": results})


class AvailabilityView(APIView):
    """Stock per location for one or more SKUs, nearest first with `near`; never cached.

    At most AVAILABILITY_LIMIT rows; `truncated` says there were more (narrow it with
    `radius_km` or `location`).
    """

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("sku", OpenApiTypes.STR, many=True, required=True),
            OpenApiParameter("near", OpenApiTypes.STR, description="lat,lng"),
            OpenApiParameter("radius_km", OpenApiTypes.FLOAT),
            OpenApiParameter("location", OpenApiTypes.STR, description="a location code"),
        ],
        responses=AvailabilityOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        query = AvailabilityQuerySerializer(
            data={
                "sku": params.getlist("sku"),
                **{k: params[k] for k in ("near", "radius_km", "location") if k in params},
            }
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        where = {k: data.get(k) for k in ("near", "radius_km")}
        native = selectors.native_sql() and isinstance(request.accepted_renderer, JSONRenderer)
        if native and "location" not in data:
            # The same document, written by PostgreSQL in one statement that also resolves
            # the codes: no Python per row, and no round trip for the SKUs first.
            text, unknown = selectors.availability_json(
                sku_codes=data["sku"], **where, shown=AVAILABILITY_LIMIT
            )
            _refuse_unknown_skus(unknown)
            return Response(RenderedJSON(text))
        skus = selectors.sku_ids_by_code(codes=data["sku"])
        _refuse_unknown_skus(sorted(set(data["sku"]) - set(skus)))
        if "location" in data:
            location = locations_by_code(codes=[data["location"]]).get(data["location"])
            if location is None:
                raise ValidationError({"location": [f"Unknown location: {data['location']}"]})
            where["location_id"] = location.pk
        if native:
            text, _ = selectors.availability_json(
                sku_ids=list(skus.values()), **where, shown=AVAILABILITY_LIMIT
            )
            return Response(RenderedJSON(text))
        # One more row than shown, to know whether there were more.
        rows = selectors.availability(
            sku_ids=list(skus.values()), **where, limit=AVAILABILITY_LIMIT + 1
        )
        return Response(
            {"results": rows[:AVAILABILITY_LIMIT], "truncated": len(rows) > AVAILABILITY_LIMIT}
        )


def _refuse_unknown_skus(codes: list[str]) -> None:
    """400 naming each of `codes` when there are any (codes no SKU has)."""
    if codes:
        raise ValidationError({"sku": [f"Unknown SKU: {code}" for code in codes]})


class SkuSyncView(APIView):
    """Catalogue sync: up to 1,000 SKUs a call, upserted by code; per-row results.

    An upsert both creates and changes SKUs, so it takes both permissions.
    """

    permission_classes = [
        has_django_permission("inventory.add_sku"),
        has_django_permission("inventory.change_sku"),
    ]

    @extend_schema(request=SkuBatchInputSerializer, responses=BatchOutputSerializer)
    def post(self, request: Request) -> Response:
        batch = SkuBatchInputSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        rows = _checked_rows(batch.validated_data["skus"], SkuInputSerializer, code_field="code")
        return _batch_response(sku_sync_batch(rows=rows))


class SkuDetailView(generics.RetrieveAPIView):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = SkuOutputSerializer
    lookup_field = "code"  # the URL converter lets only well-formed codes through

    def get_object(self):
        try:
            return selectors.sku_get(code=self.kwargs["code"])
        except selectors.Sku.DoesNotExist:
            raise Http404 from None


class StockListView(generics.ListAPIView):
    """Stock levels at the caller's locations (every location for a superuser)."""

    permission_classes = [IsLocationStaff]
    serializer_class = StockLevelOutputSerializer
    filterset_class = StockLevelFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return selectors.StockLevel.objects.none()
        # `location` is checked against the caller's locations by the filter, once valid.
        return selectors.stock_level_list(
            location_ids=location_ids_for_user(user=self.request.user)
        )


class CountRequestListView(generics.ListAPIView):
    """Shelves the caller's stores are asked to count (units of them were not found when
    picked, and are held until then), open ones first. The count is recorded as a
    `cycle_count` movement, which settles them."""

    permission_classes = [IsLocationStaff]
    serializer_class = CountRequestOutputSerializer
    filterset_class = CountRequestFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return selectors.CountRequest.objects.none()
        return selectors.count_request_list(
            location_ids=location_ids_for_user(user=self.request.user)
        )


class MovementBatchView(APIView):
    """Movements from a POS or WMS, idempotent by (source, external_id); per-row results."""

    permission_classes = [has_django_permission("inventory.add_stockmovement")]

    @extend_schema(request=MovementBatchInputSerializer, responses=BatchOutputSerializer)
    def post(self, request: Request) -> Response:
        batch = MovementBatchInputSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        rows = _checked_rows(batch.validated_data["movements"], MovementInputSerializer)
        results = movement_import_batch(
            rows=rows, actor=request.user, location_ids=location_ids_for_user(user=request.user)
        )
        return _batch_response(results)


class TransferListView(generics.ListCreateAPIView):
    """Standalone transfers of the caller's locations (`?direction=incoming|outgoing`,
    `?status=`); POST asks another location for stock (a manager of the receiving one)."""

    permission_classes = [IsLocationStaff]
    serializer_class = TransferOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.Transfer.objects.none()
        qs = selectors.transfer_list(
            user=self.request.user, direction=self.request.query_params.get("direction", "")
        )
        status_ = self.request.query_params.get("status")
        return (qs.filter(status=status_) if status_ else qs).order_by("-created_at", "-pk")

    @extend_schema(
        operation_id="transfer_request",
        request=TransferRequestInputSerializer,
        responses=TransferOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        payload = TransferRequestInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        found = locations_by_code(codes=[data["from_location"], data["to_location"]])
        errors = {
            field: [f"Unknown location: {data[field]}"]
            for field in ("from_location", "to_location")
            if data[field] not in found
        }
        sku = selectors.sku_find(text=data["sku"])
        if sku is None:
            errors["sku"] = [f"Unknown SKU: {data['sku']}"]
        if errors:
            raise ValidationError(errors)
        transfer = services.transfer_request(
            from_location=found[data["from_location"]], to_location=found[data["to_location"]],
            sku=sku, quantity=data["quantity"], actor=request.user, note=data["note"],
        )  # fmt: skip
        return Response(TransferOutputSerializer(transfer).data, status=status.HTTP_201_CREATED)


class TransferActionView(BodyCheckedMixin, APIView):
    """POST /transfers/{id}/ship (the sender), /receive (the asking location), /decline."""

    permission_classes = [IsLocationStaff]

    @extend_schema(
        operation_id="transfer_action",
        parameters=[
            OpenApiParameter(
                "action", str, OpenApiParameter.PATH, enum=["ship", "receive", "decline"]
            )
        ],
        request=TransferDeclineInputSerializer,
        description="ship (the sender), receive (the asking location), decline {reason}: "
        "only decline reads the body.",
        responses=TransferOutputSerializer,
    )
    def post(self, request: Request, pk: int, action: str) -> Response:
        if action not in ("ship", "receive", "decline"):
            raise Http404
        try:
            transfer = selectors.transfer_get(pk=pk, user=request.user)
        except selectors.Transfer.DoesNotExist:
            raise Http404 from None
        if action == "ship":
            transfer = services.transfer_ship(transfer=transfer, actor=request.user)
        elif action == "receive":
            transfer = services.transfer_receive(transfer=transfer, actor=request.user)
        else:
            payload = TransferDeclineInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            transfer = services.transfer_decline(
                transfer=transfer, actor=request.user, reason=payload.validated_data["reason"]
            )
        transfer = selectors.transfer_get(pk=transfer.pk, user=request.user)
        return Response(TransferOutputSerializer(transfer).data)

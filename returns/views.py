from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, permissions
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import BodyCheckedMixin
from common.idempotency import IDEMPOTENCY_HEADER, idempotency_key_of, idempotent
from common.schema import ErrorOutputSerializer, InvalidOutputSerializer
from common.throttling import ClientFailureThrottle, ScopedWindowThrottle
from orders.models import Order
from orders.selectors import order_get, token_channel
from returns import selectors
from returns.errors import ReturnCodeLookupsExceeded
from returns.models import Return
from returns.serializers import (
    ReturnInspectInputSerializer,
    ReturnOpenInputSerializer,
    ReturnOutputSerializer,
    ReturnReceiveInputSerializer,
    ReturnRejectInputSerializer,
)
from returns.services.lifecycle import (
    ExchangeRequest,
    Inspection,
    ReturnLineRequest,
    ReturnRequest,
    return_cancel,
    return_complete,
    return_inspect,
    return_open,
    return_receive,
    return_reject,
)
from stores.permissions import IsLocationStaff

ERRORS = {
    400: OpenApiResponse(InvalidOutputSerializer,
                         description="Invalid fields (`errors`), or a location that "
                         "does not accept returns."),
    403: OpenApiResponse(ErrorOutputSerializer,
                         description="Another channel's order or another store."),
    404: OpenApiResponse(ErrorOutputSerializer,
                         description="No such order or return for the caller."),
    409: OpenApiResponse(
        ErrorOutputSerializer,
        description="return_quantity_exceeded, units_not_fulfilled (cancel them), "
        "return_window_closed, final_sale, return_status_conflict, refund_already_issued, "
        "return_code_invalid (429 return_code_locked after too many).",
    ),
}  # fmt: skip


def render_return(ret: Return) -> dict:
    """A return a service just let the caller act on, as GET shows it."""
    return ReturnOutputSerializer(selectors.return_for_display(rma=ret.rma)).data


class ReturnCodeMissThrottle(ClientFailureThrottle):
    scope = "return_code_miss"


class ReturnListPagination(LimitOffsetPagination):
    max_limit = 200


class ReturnListCreateView(generics.ListAPIView):
    """Returns the caller may see, by `order` number, `customer` (email, phone or member id)
    or return `code`; POST opens one (online without a location, or at a store's counter)."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [ScopedWindowThrottle]
    throttle_scope = "returns"
    serializer_class = ReturnOutputSerializer
    pagination_class = ReturnListPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Return.objects.none()
        params = self.request.query_params
        return selectors.returns_filter(
            selectors.return_list(user=self.request.user, auth=self.request.auth),
            order=params.get("order", ""),
            customer=params.get("customer", ""),
            code=params.get("code", ""),
        )

    def list(self, request, *args, **kwargs):
        """A `code` that finds no return is counted against the client; past its rate
        (`return_code_miss`) code lookups are refused for a while, right or wrong."""
        code = request.query_params.get("code", "").strip()
        if not code:
            return super().list(request, *args, **kwargs)
        misses = ReturnCodeMissThrottle()
        if misses.blocked(request):
            raise ReturnCodeLookupsExceeded(retry_after=max(int(misses.wait() or 1), 1))
        response = super().list(request, *args, **kwargs)
        if response.data["count"] == 0:
            misses.record_failure(request)
        return response

    def get_serializer(self, *args, **kwargs):
        page = args[0] if args else None
        if page is not None:  # the page's refunds in one query
            kwargs["context"] = {
                **self.get_serializer_context(),
                "refunds": selectors.returns_refunds(returns=list(page)),
            }
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("order", OpenApiTypes.STR),
            OpenApiParameter("customer", OpenApiTypes.STR, description="Email, phone or member"),
            OpenApiParameter("code", OpenApiTypes.STR, description="The return code"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ReturnOpenInputSerializer,
        responses={201: ReturnOutputSerializer, **ERRORS},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
    )
    def post(self, request: Request) -> Response:
        scope = idempotency_key_of(request)
        payload = ReturnOpenInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            order = order_get(number=data["order"], user=request.user, auth=request.auth)
        except Order.DoesNotExist:
            raise NotFound(f"No order {data['order']}.") from None
        return_request = ReturnRequest(
            order=order,
            location=data.get("location"),
            lines=[
                ReturnLineRequest(
                    line_id=line["line"], quantity=line["quantity"], reason=line["reason"],
                    note=line["note"],
                )
                for line in data["lines"]
            ],
            exchange=[
                ExchangeRequest(line_id=swap["line"], sku=swap["sku"], quantity=swap["quantity"])
                for swap in data["exchange"]
            ],
            exchange_tender=data["exchange_tender"],
        )  # fmt: skip
        result = idempotent(
            key=scope,
            service=lambda: return_open(
                request=return_request, actor=request.user, channel=token_channel(request.auth)
            ),
            render=render_return,
            reference=lambda ret: ret.rma,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(result.body, status=result.status, headers=headers)


def _get(request: Request, rma: str) -> Return:
    try:
        return selectors.return_get(rma=rma, user=request.user, auth=request.auth)
    except Return.DoesNotExist:
        raise NotFound(f"No return {rma}.") from None


class ReturnDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: ReturnOutputSerializer, 404: ERRORS[404]})
    def get(self, request: Request, rma: str) -> Response:
        return Response(ReturnOutputSerializer(_get(request, rma)).data)


class ReturnReceiveView(APIView):
    """The goods are at this location's counter (any location that accepts returns)."""

    permission_classes = [IsLocationStaff]

    @extend_schema(request=ReturnReceiveInputSerializer,
                   responses={200: ReturnOutputSerializer, **ERRORS})  # fmt: skip
    def post(self, request: Request, rma: str) -> Response:
        ret = _get(request, rma)
        payload = ReturnReceiveInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ret = return_receive(ret=ret, actor=request.user, **payload.validated_data)
        return Response(render_return(ret))


class ReturnInspectView(APIView):
    """Per line: condition and disposition (restock here, write off, transfer to `target`)."""

    permission_classes = [IsLocationStaff]

    @extend_schema(request=ReturnInspectInputSerializer,
                   responses={200: ReturnOutputSerializer, **ERRORS})  # fmt: skip
    def post(self, request: Request, rma: str) -> Response:
        ret = _get(request, rma)
        payload = ReturnInspectInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        inspections = [
            Inspection(line_id=item["line"], condition=item["condition"],
                       disposition=item["disposition"], target=item.get("target"))
            for item in payload.validated_data["lines"]
        ]  # fmt: skip
        ret = return_inspect(ret=ret, inspections=inspections, actor=request.user)
        return Response(render_return(ret))


class ReturnRejectView(APIView):
    """Refuse a return outside policy (goods handed back), before any refund."""

    permission_classes = [IsLocationStaff]

    @extend_schema(request=ReturnRejectInputSerializer,
                   responses={200: ReturnOutputSerializer, **ERRORS})  # fmt: skip
    def post(self, request: Request, rma: str) -> Response:
        ret = _get(request, rma)
        payload = ReturnRejectInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ret = return_reject(ret=ret, actor=request.user, **payload.validated_data)
        return Response(render_return(ret))


class ReturnCompleteView(BodyCheckedMixin, APIView):
    """Close an inspected return: its inspection can no longer be corrected."""

    permission_classes = [IsLocationStaff]

    @extend_schema(request=None, responses={200: ReturnOutputSerializer, **ERRORS})
    def post(self, request: Request, rma: str) -> Response:
        ret = return_complete(ret=_get(request, rma), actor=request.user)
        return Response(render_return(ret))


class ReturnCancelView(BodyCheckedMixin, APIView):
    """Withdraw a return before anything was received."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: ReturnOutputSerializer, **ERRORS})
    def post(self, request: Request, rma: str) -> Response:
        ret = return_cancel(
            ret=_get(request, rma), actor=request.user, channel=token_channel(request.auth)
        )
        return Response(render_return(ret))

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.health import broker_check, database_check


class HealthView(APIView):
    """Liveness and readiness: 200 when the database and the broker answer, else 503."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        checks = {"database": database_check(), "broker": broker_check()}
        ok = all(check["ok"] for check in checks.values())
        return Response(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """An unknown API path answers in the API's error shape; other pages as Django does."""
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


@csrf_exempt  # it changes nothing: a POST without a CSRF token gets the 404 too, not a 403 page
def api_not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """The last API route: an unknown path under /api/ is the API's 404 with DEBUG on as well
    (where Django would otherwise answer its HTML debug page), whatever the method."""
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refuses before any view (a body above DATA_UPLOAD_MAX_MEMORY_SIZE,
    too many fields, a bad Host) answers in the API's error shape under /api/."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse(
            {"code": "request_too_large", "detail": f"The body is over {limit} bytes."},
            status=413,
        )
    return JsonResponse({"code": "bad_request", "detail": "Bad request."}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """A bug answers the API's error shape too (and is logged with its traceback)."""
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "detail": "Something went wrong on our side."}, status=500
        )
    return defaults.server_error(request)

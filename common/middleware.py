"""A database that went away mid-request (connection lost, server shut down) answers 503 with
Retry-After, in the API's JSON shape under /api/ and as a short page elsewhere (the admin),
never a 500 with a trace. The API's views reach the same answer through common.api."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from common.db import is_conflict
from common.logging import REQUEST_ID_HEADER, order_var, request_id_from, request_id_var

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
UNAVAILABLE = {
    "code": "service_unavailable",
    "detail": "The service cannot reach its database just now; try again shortly.",
}
CONFLICTED = {
    "code": "service_unavailable",
    "detail": (
        "Other requests were changing the same records at the same moment; try again shortly."
    ),
}


def unavailable_body(exc: Exception) -> dict[str, str]:
    """The 503's body: a deadlock or serialization failure that outlasted its retries is
    contention, not a database out of reach."""
    return CONFLICTED if is_conflict(exc) else UNAVAILABLE


def retry_after() -> str:
    return str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER)


def database_unavailable_logged(exc: Exception, request: HttpRequest) -> None:
    logger.error("database unavailable during %s %s: %s", request.method, request.path, exc)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, DATABASE_ERRORS):
            return None
        database_unavailable_logged(exc, request)
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(unavailable_body(exc), status=503)
        else:
            response = HttpResponse(
                unavailable_body(exc)["detail"],
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = retry_after()
        return response


class RequestIdMiddleware:
    """Every request has an id: the X-Request-ID it came with when sane, else a new one. It
    is on every log line of the request (common.logging) and of the tasks it queues, and in
    the response's X-Request-ID header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request_token = request_id_var.set(request_id)
        order_token = order_var.set("")
        try:
            response = self.get_response(request)
        finally:
            order_var.reset(order_token)
            request_id_var.reset(request_token)
        response[REQUEST_ID_HEADER] = request_id
        return response

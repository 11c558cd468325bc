"""A database that went away mid-request (connection lost, server shut down) answers 503 with
Retry-After, in the API's JSON shape under /api/ and as a short page elsewhere (the admin),
never a 500 with a trace. The API's views reach the same answer through common.api."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
UNAVAILABLE = {
    "code": "service_unavailable",
    "detail": "The service cannot reach its database just now; try again shortly.",
}


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
            response: HttpResponse = JsonResponse(UNAVAILABLE, status=503)
        else:
            response = HttpResponse(
                UNAVAILABLE["detail"], status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = retry_after()
        return response

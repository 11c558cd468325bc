"""The one DRF exception handler: every error leaves the API as {"code", "detail", ...}."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import DomainError
from common.middleware import database_unavailable_logged, retry_after, unavailable_body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        wait = exc.extra.get("retry_after")  # seconds, for an error that passes with time
        headers = {"Retry-After": str(wait)} if wait else None
        return Response(exc.as_dict(), status=exc.status, headers=headers)
    if isinstance(exc, OperationalError | InterfaceError):
        database_unavailable_logged(exc, context["request"])
        return Response(
            unavailable_body(exc),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": retry_after()},
        )
    if isinstance(exc, TransitionNotAllowed):
        return Response(
            {"code": "transition_not_allowed", "detail": str(exc)},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request has invalid fields.",
            "errors": response.data,
        }
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else exc.default_code,
            "detail": str(exc.detail),
        }
    return response


class BodyCheckedMixin:
    """For an action that reads no body (accept, pick, complete, ...): a malformed one is still
    a 400 `parse_error`, before anything is done, after the caller's permission is checked."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in {"POST", "PUT", "PATCH"}:
            request.data  # noqa: B018 - parsing raises ParseError on a malformed body

"""The OpenAPI schema's error responses: every operation documents the errors it can answer,
in the one shape the exception handler gives them ({"code", "detail", ...})."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorOutputSerializer(serializers.Serializer):
    """Every error: a stable code, a sentence for people, and what else the code carries
    (a domain error adds its own keys, such as `sku` and `available`)."""

    code = serializers.CharField(help_text="Stable, machine-readable: `not_found`, ...")
    detail = serializers.CharField()


class InvalidOutputSerializer(ErrorOutputSerializer):
    """A 400: `errors` maps each rejected field (or `non_field_errors`) to its messages;
    a domain rule on the input (an unknown SKU, a bad movement) answers its own code."""

    errors = serializers.JSONField(
        required=False, help_text="Field name to a list of messages, nested as the input is."
    )


def error(description: str, serializer=ErrorOutputSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


BAD_REQUEST = error(
    "`invalid`: the body or query has invalid fields (see `errors`); `parse_error`: "
    "a body that is not JSON; or a domain rule on the input (its own code).",
    InvalidOutputSerializer,
)
UNAUTHENTICATED = error(
    "`not_authenticated`: no token; `authentication_failed`: a wrong or revoked token."
)
FORBIDDEN = error("`permission_denied`: the caller's role or store may not do this.")
NOT_FOUND = error("`not_found`: no such record among those the caller may see.")
CONFLICT = error(
    "The record's state does not allow it (`transition_not_allowed`, or the rule's own code "
    "such as `insufficient_stock`), with detail."
)
UNPROCESSABLE = error(
    "`idempotency_key_reused`: this Idempotency-Key was used for a different request."
)
UNSUPPORTED_MEDIA_TYPE = error(
    "`unsupported_media_type`: a body that is not JSON, a form, or well-formed multipart."
)
TOO_LARGE = error("`request_too_large`: the body is over DJANGO_MAX_REQUEST_BYTES.")
THROTTLED = error("`throttled`: too many requests; retry after `Retry-After` seconds.")


class ErrorDocumentingAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error responses each operation can answer.

    What an operation can answer follows from the view: 401/403 unless anyone may call it,
    404 where the path names a record, 400 where it takes input, 409/413/415 for writes, 422 where
    it takes an Idempotency-Key, 429 where it is throttled or takes a token. An operation's own
    `extend_schema(responses=...)` wins for the codes it names."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self.error_responses().items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code))
        return responses

    def error_responses(self) -> dict[int, OpenApiResponse]:
        errors: dict[int, OpenApiResponse] = {}
        write = self.method in WRITE_METHODS
        parameters = self._get_parameters()
        if write or any(parameter["in"] == "query" for parameter in parameters):
            errors[400] = BAD_REQUEST
        if not any(
            isinstance(permission, permissions.AllowAny)
            for permission in self.view.get_permissions()
        ):
            errors[401] = UNAUTHENTICATED
            errors[403] = FORBIDDEN
        if "{" in self.path:
            errors[404] = NOT_FOUND
        if write:
            errors[409] = CONFLICT
            errors[413] = TOO_LARGE
            errors[415] = UNSUPPORTED_MEDIA_TYPE
            if any(parameter["name"] == "Idempotency-Key" for parameter in parameters):
                errors[422] = UNPROCESSABLE
        # Token authentication itself is throttled after repeated wrong tokens.
        if self.view.get_throttles() or self.view.get_authenticators():
            errors[429] = THROTTLED
        return errors

"""The base of every domain error: a stable code, an HTTP status and extra detail."""

from typing import Any


class DomainError(Exception):
    """A business rule said no. Mapped to one JSON shape by `common.api.exception_handler`."""

    code = "domain_error"
    status = 409
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_detail = "Not found."

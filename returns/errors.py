from common.errors import DomainError


class ReturnInvalid(DomainError):
    """A field error found by a rule, not by the input's shape: `errors` as a 400 has them."""

    code = "invalid"
    status = 400
    default_detail = "The request has invalid fields."


class ReturnQuantityExceeded(DomainError):
    code = "return_quantity_exceeded"
    status = 409
    default_detail = (
        "More units than can still be returned: fulfilled, less returned and in open returns."
    )


class UnitsNotFulfilled(DomainError):
    code = "units_not_fulfilled"
    status = 409
    default_detail = "Those units were never shipped or handed over: cancel them instead."


class ReturnWindowClosed(DomainError):
    code = "return_window_closed"
    status = 409
    default_detail = "The return window of that line is over."


class FinalSale(DomainError):
    code = "final_sale"
    status = 409
    default_detail = "That item was sold as final sale: it cannot be returned."


class ReturnNotAllowedHere(DomainError):
    code = "location_does_not_accept_returns"
    status = 400
    default_detail = "That location does not accept returns."


class ReturnStatusConflict(DomainError):
    code = "return_status_conflict"
    status = 409
    default_detail = "The return's status does not allow that."


class RefundCannotShrink(DomainError):
    code = "refund_already_issued"
    status = 409
    default_detail = "The refund was issued: a corrected inspection cannot refund less."


class ReturnForbidden(DomainError):
    code = "permission_denied"
    status = 403
    default_detail = "You do not have permission to perform this action."


class ReturnCodeInvalid(DomainError):
    code = "return_code_invalid"
    status = 409
    default_detail = "That is not this return's code."


class ReturnCodeLocked(DomainError):
    """Too many wrong codes for one return: refused until the lock ends (`retry_after`
    seconds, also the answer's Retry-After)."""

    code = "return_code_locked"
    status = 429
    default_detail = "Too many wrong codes for this return; try again later or ask a manager."

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class ReturnCodeLookupsExceeded(DomainError):
    """Too many return codes looked up that found nothing, by one client: codes are not
    guessed by trying them."""

    code = "return_code_lookups_exceeded"
    status = 429
    default_detail = "Too many return codes that match no return; try again later."

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)

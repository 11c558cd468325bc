from common.errors import DomainError


class OrderNotCancellable(DomainError):
    code = "order_not_cancellable"
    status = 409
    default_detail = "The order can no longer be cancelled."


class LineNotCancellable(DomainError):
    code = "line_not_cancellable"
    status = 409
    default_detail = "That quantity of the line can no longer be cancelled."


class CheckoutFieldInvalid(DomainError):
    """A field error found by a rule, not by the input's shape: `errors` as a 400 has them."""

    code = "invalid"
    status = 400
    default_detail = "The request has invalid fields."


class NoShippingCoordinates(CheckoutFieldInvalid):
    """A ship order's address has no coordinates and we serve neither its postcode nor city."""


class CheckoutMoneyInvalid(CheckoutFieldInvalid):
    """Lines in several currencies, a discount above its lines, tenders that do not add up
    to the total or do not fit the sale."""


class CheckoutStoreInvalid(CheckoutFieldInvalid):
    """The store that takes a staff member's order cannot be told or is closed."""


class CheckoutNotAllowed(DomainError):
    code = "permission_denied"
    status = 403
    default_detail = "You do not have permission to perform this action."


class OrderTotalTooLarge(DomainError):
    code = "order_total_too_large"
    status = 400
    default_detail = "The order's total is larger than one order may be."


class DuplicateLines(DomainError):
    """Raised with `skus=[...]`: each SKU must be on one line, with its whole quantity."""

    code = "duplicate_lines"
    status = 400
    default_detail = "A SKU appears on more than one line."


class OrderNotClosable(DomainError):
    code = "order_not_closable"
    status = 409
    default_detail = "Only a fulfilled order whose return window is over can be closed."


class ReturnExceedsFulfilled(DomainError):
    code = "return_exceeds_fulfilled"
    status = 409
    default_detail = "That is more units than were fulfilled and not yet returned."

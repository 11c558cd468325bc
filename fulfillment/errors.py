from common.errors import DomainError


class PickupCodeInvalid(DomainError):
    code = "pickup_code_invalid"
    status = 409
    default_detail = "The pickup code does not match."


class PickupCodeLocked(DomainError):
    code = "pickup_code_locked"
    status = 409
    default_detail = "Too many wrong codes; a manager must hand over with a reason."


class OverrideNotAllowed(DomainError):
    code = "override_not_allowed"
    status = 403
    default_detail = "Only a manager of this location may hand over without the code."


class NotCurbside(DomainError):
    code = "not_curbside"
    status = 409
    default_detail = "Only a curbside pickup that is ready can be told the customer arrived."


class AwaitingTransfer(DomainError):
    code = "awaiting_transfer"
    status = 409
    default_detail = "Items of this pickup are still on their way to the store."


class PickupNotReady(DomainError):
    code = "pickup_not_ready"
    status = 409
    default_detail = "Only a pickup that is ready can get a new pickup code."

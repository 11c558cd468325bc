from common.errors import DomainError


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    status = 409
    default_detail = "The customer does not have that many points to spend."


class PointsAdjustmentInvalid(DomainError):
    code = "invalid"
    status = 400
    default_detail = "The request has invalid fields."


class UnknownMember(DomainError):
    code = "unknown_member"
    status = 400
    default_detail = "No customer has that member id."

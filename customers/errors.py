from common.errors import DomainError


class UnknownMember(DomainError):
    """A member id nobody holds: member ids are issued here, so it is a mistake (400)."""

    code = "unknown_member"
    status = 400
    default_detail = "No member has this id."


class MergeNotAllowed(DomainError):
    code = "merge_not_allowed"
    status = 409
    default_detail = "These two records cannot be merged."


class MemberIdsDiffer(DomainError):
    """Both records are members with their own ids: a manager must confirm they are one
    person (the survivor keeps its id; the other still finds it)."""

    code = "member_ids_differ"
    status = 409
    default_detail = "Both customers are members with different member ids: confirm to merge."


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    status = 409
    default_detail = "The customer does not have that many points to spend."


class PointsAdjustmentInvalid(DomainError):
    code = "invalid"
    status = 400
    default_detail = "The request has invalid fields."

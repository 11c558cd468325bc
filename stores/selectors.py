from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from stores.geo import distance_km_expression
from stores.models import Location, StaffMembership


def location_list(*, near: tuple[float, float] | None = None) -> QuerySet[Location]:
    """All locations; with `near`, annotated with `distance_km` and nearest first."""
    qs = Location.objects.all()
    if near is not None:
        qs = qs.annotate(distance_km=distance_km_expression(*near)).order_by("distance_km", "code")
    return qs


def location_ids_for_user(*, user: AbstractBaseUser) -> set[int] | None:
    """Ids of the locations `user` works at; None means every location (superuser)."""
    if user.is_superuser:
        return None
    return set(StaffMembership.objects.filter(user=user).values_list("location_id", flat=True))


def staff_role_at(*, user: AbstractBaseUser, location: Location) -> str | None:
    if user.is_superuser:
        return StaffMembership.Role.MANAGER
    return (
        StaffMembership.objects.filter(user=user, location=location)
        .values_list("role", flat=True)
        .first()
    )


def staff_roles(*, user: AbstractBaseUser) -> set[str]:
    """The roles `user` holds at any location (every role for a superuser)."""
    if user.is_superuser:
        return set(StaffMembership.Role.values)
    return set(StaffMembership.objects.filter(user=user).values_list("role", flat=True))


def locations_by_code(*, codes) -> dict[str, Location]:
    return {loc.code: loc for loc in Location.objects.filter(code__in=set(codes))}

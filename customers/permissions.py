"""Who may read and change a customer's loyalty account through the API."""

from rest_framework.permissions import BasePermission

from stores.models import StaffMembership
from stores.selectors import location_ids_for_user


class CustomerReader(BasePermission):
    """Store staff (any store serves any customer) and channel clients (the storefronts
    that sign their customers in)."""

    message = "Only store staff and channel clients see customers."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(
            getattr(request.auth, "channel", "") or location_ids_for_user(user=user) != set()
        )


class PointsAdjuster(BasePermission):
    """A store manager (or a superuser): adjustments change what a customer may spend."""

    message = "Only a store manager adjusts points."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return (
            user.is_superuser
            or StaffMembership.objects.filter(user=user, role=StaffMembership.Role.MANAGER).exists()
        )

from rest_framework.permissions import BasePermission

from stores.models import StaffMembership


class IsStaffOrChannelClient(BasePermission):
    """A sales channel's API client, staff of any location, or a superuser: who serves
    customers. A plain account (a customer's own login, say) is refused."""

    message = "Only a sales channel's client or staff of a location can do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.is_superuser or getattr(request.auth, "channel", ""):
            return True
        return StaffMembership.objects.filter(user=user).exists()


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

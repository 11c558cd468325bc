from rest_framework.permissions import BasePermission

from stores.models import StaffMembership


class IsLocationStaff(BasePermission):
    """Staff with at least one location membership, or a superuser."""

    message = "Only staff of a location can do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.is_superuser or StaffMembership.objects.filter(user=user).exists()

from rest_framework.permissions import BasePermission


def has_django_permission(perm: str) -> type[BasePermission]:
    """A DRF permission class requiring the Django model permission `perm` ("app.codename")."""

    class HasDjangoPermission(BasePermission):
        message = f"Requires the {perm} permission."

        def has_permission(self, request, view) -> bool:
            return bool(
                request.user and request.user.is_authenticated and request.user.has_perm(perm)
            )

    HasDjangoPermission.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasDjangoPermission

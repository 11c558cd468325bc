"""The admin site: its front page is "Today at my store" for staff (see common.workspace)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from common.workspace import today_rows


class OmnistockAdminSite(admin.AdminSite):
    site_header = "Omnistock OMS"
    site_title = "Omnistock OMS"
    index_title = "Today at my store"
    index_template = "admin/today.html"

    def index(self, request, extra_context=None):
        locations = self.staff_locations(request)
        context = {
            "today_rows": today_rows(request),
            "today_locations": locations,
            "title": self.index_title if not request.user.is_superuser else "Today in the chain",
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)

    @staticmethod
    def staff_locations(request) -> list[str]:
        memberships = request.user.memberships.select_related("location").order_by("location__code")
        return [f"{m.location.name} ({m.get_role_display().lower()})" for m in memberships]


class OmnistockAdminConfig(AdminConfig):
    default_site = "common.admin_site.OmnistockAdminSite"

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse

from stores.models import Location, StaffMembership
from stores.selectors import location_ids_for_user


class ScopedNotFoundMixin:
    """A record the user may not see reads as "not at your locations", not as deleted."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        name = opts.verbose_name
        if request.user.is_superuser:
            text = f"There is no {name} with ID {object_id}."
        else:
            text = f"{name.capitalize()} {object_id} is not one of your locations' records."
        self.message_user(request, text, messages.WARNING)
        changelist = f"admin:{opts.app_label}_{opts.model_name}_changelist"
        return HttpResponseRedirect(reverse(changelist, current_app=self.admin_site.name))


class LocationScopedAdminMixin(ScopedNotFoundMixin):
    """Staff see only rows at their own locations; superusers see everything."""

    location_field = "location"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        allowed = location_ids_for_user(user=request.user)
        if allowed is None:
            return qs
        return qs.filter(self.location_scope(request, allowed))

    def location_scope(self, request, allowed: set[int]) -> Q:
        """The rows staff working at `allowed` may see."""
        return Q(**{f"{self.location_field}__in": allowed})

    def allowed_locations(self, request):
        allowed = location_ids_for_user(user=request.user)
        qs = Location.objects.filter(is_active=True)
        return qs if allowed is None else qs.filter(pk__in=allowed)


class StaffMembershipInline(LocationScopedAdminMixin, admin.TabularInline):
    """On a location's page: only the staff of the viewer's own locations."""

    model = StaffMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = [
        "code", "name", "kind", "city", "is_active",
        "can_ship", "can_pickup", "can_curbside", "accepts_returns", "daily_ship_capacity",
    ]  # fmt: skip
    list_filter = [
        "kind", "is_active", "can_ship", "can_pickup", "can_curbside", "accepts_returns", "city",
    ]  # fmt: skip
    search_fields = ["code", "name", "city", "postcode"]
    inlines = [StaffMembershipInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "kind", "is_active"]}),
        ("Address", {"fields": ["address_line1", "city", "postcode", "country", "latitude",
                                "longitude", "timezone", "opening_hours"]}),
        ("Capabilities", {"fields": ["can_ship", "can_pickup", "can_curbside",
                                     "accepts_returns", "daily_ship_capacity",
                                     "pickup_hold_hours", "accept_sla_minutes"]}),
    ]  # fmt: skip


@admin.register(StaffMembership)
class StaffMembershipAdmin(LocationScopedAdminMixin, admin.ModelAdmin):
    """Staff see the memberships (names, emails) of their own locations only."""

    list_display = ["user", "location", "role"]
    list_filter = ["role", "location__kind"]
    search_fields = ["user__username", "user__email", "location__code", "location__name"]
    autocomplete_fields = ["user", "location"]

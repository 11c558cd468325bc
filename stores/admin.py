from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse

from common.admin import ApiTokenAdmin
from common.models import ApiToken
from stores.models import Location, StaffMembership
from stores.selectors import location_ids_for_user, staff_role_at
from stores.services import SETTINGS_FIELDS, location_settings_errors, location_update_settings


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


class LocationForm(forms.ModelForm):
    """Checks the store settings with the same rules as `location_update_settings`."""

    class Meta:
        model = Location
        fields = "__all__"  # noqa: DJ007 - the admin narrows it to the fields shown

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            changes = {n: data[n] for n in SETTINGS_FIELDS if n in data and n in self.changed_data}
            for name, error in location_settings_errors(
                location=self.instance, changes=changes
            ).items():
                self.add_error(name if name in self.fields else None, error)
        return data


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    """Every location, read-only to staff; a store's manager changes its settings (hours,
    hold and accept times, ship capacity, capabilities) through `location_update_settings`."""

    form = LocationForm
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

    def has_change_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser or obj is None:
            return super().has_change_permission(request, obj)
        return (
            super().has_change_permission(request, obj)
            and staff_role_at(user=request.user, location=obj) == StaffMembership.Role.MANAGER
        )

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return []
        return [f.name for f in Location._meta.fields if f.name not in SETTINGS_FIELDS]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        settings = {n: form.cleaned_data[n] for n in SETTINGS_FIELDS if n in form.changed_data}
        others = [n for n in form.changed_data if n not in SETTINGS_FIELDS]
        if others and request.user.is_superuser:
            Location.objects.filter(pk=obj.pk).update(**{n: form.cleaned_data[n] for n in others})
        if settings:
            location_update_settings(location=obj, actor=request.user, **settings)
        return None


@admin.register(StaffMembership)
class StaffMembershipAdmin(LocationScopedAdminMixin, admin.ModelAdmin):
    """Staff see the memberships (names, emails) of their own locations only."""

    list_display = ["user", "location", "role"]
    list_filter = ["role", "location__kind"]
    search_fields = ["user__username", "user__email", "location__code", "location__name"]
    autocomplete_fields = ["user", "location"]


# A store app's token acts for its store (its user's staff membership): the token list says which.
admin.site.unregister(ApiToken)


@admin.register(ApiToken)
class ApiTokenWithStoreAdmin(ApiTokenAdmin):
    list_display = [*ApiTokenAdmin.list_display[:3], "store", *ApiTokenAdmin.list_display[3:]]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("user__memberships__location")

    @admin.display(description="store")
    def store(self, token: ApiToken) -> str:
        if token.channel != ApiToken.Channel.STORE:
            return ""
        return ", ".join(sorted(m.location.code for m in token.user.memberships.all()))

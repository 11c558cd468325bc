import uuid

from django import forms
from django.contrib import admin, messages

from common.errors import DomainError
from customers.models import Customer, PointsEntry
from customers.normalise import normalise_email, normalise_phone
from customers.points import points_adjust
from customers.selectors import customer_points_summary
from customers.serializers import PointsAdjustInputSerializer
from customers.services import customer_update
from stores.models import StaffMembership


class CustomerAdminForm(forms.ModelForm):
    """Email and phone are checked and written as checkout writes them, so a person's edit
    can never make the next checkout miss this customer and create a second one."""

    class Meta:
        model = Customer
        fields = ["email", "phone", "name", "loyalty_id"]

    def clean_email(self) -> str | None:
        return normalise_email(self.cleaned_data.get("email"))

    def clean_phone(self) -> str | None:
        try:
            return normalise_phone(self.cleaned_data.get("phone"))
        except ValueError:
            raise forms.ValidationError("Not a valid phone number.") from None

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone") and not self.errors:
            raise forms.ValidationError("Give an email or a phone number.")
        return cleaned


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """One customer across web, app and every store (orders adds their orders below)."""

    form = CustomerAdminForm
    list_display = ["__str__", "email", "phone", "loyalty_id", "created_at"]
    search_fields = ["email", "phone", "name", "loyalty_id"]
    readonly_fields = ["points_balance", "points_tier", "created_at", "updated_at"]
    inlines = []  # set below: the points ledger

    @admin.display(description="Points")
    def points_balance(self, obj) -> str:
        if obj.pk is None:
            return "-"
        points = customer_points_summary(customer=obj)["points"]
        return (
            f"{points['balance']} spendable (worth {points['value']}), {points['held']} held by "
            f"open orders, {points['pending']} pending"
        )

    @admin.display(description="Tier")
    def points_tier(self, obj) -> str:
        return customer_points_summary(customer=obj)["tier"] if obj.pk else "-"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        customer_update(
            customer=obj,
            email=data.get("email"),
            phone=data.get("phone"),
            name=data.get("name", ""),
            loyalty_id=data.get("loyalty_id", ""),
        )


class PointsEntryInline(admin.TabularInline):
    """The customer's points ledger, newest first (read-only: entries are append-only)."""

    model = PointsEntry
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "points", "held", "pending", "source", "rate", "multiplier",
              "reason", "actor"]  # fmt: skip
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]
    max_num = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _is_manager(user) -> bool:
    return (
        user.is_superuser
        or StaffMembership.objects.filter(user=user, role=StaffMembership.Role.MANAGER).exists()
    )


class PointsAdjustmentForm(forms.ModelForm):
    """A manager's adjustment, checked by the API's own input serializer."""

    class Meta:
        model = PointsEntry
        fields = ["customer", "points", "reason"]

    def clean(self):
        cleaned = super().clean()
        data = PointsAdjustInputSerializer(
            data={"points": cleaned.get("points"), "reason": cleaned.get("reason", "")}
        )
        if not data.is_valid():
            for name, errors in data.errors.items():
                self.add_error(name if name in self.fields else None, errors)
            return cleaned
        customer, points = cleaned.get("customer"), cleaned["points"]
        if customer is not None and points < 0:
            balance = customer_points_summary(customer=customer)["points"]["balance"]
            if -points > balance:
                self.add_error("points", f"The customer has only {balance} points.")
        return cleaned


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    """Every points entry; managers add an adjustment (with a reason) here."""

    form = PointsAdjustmentForm
    list_display = ["created_at", "customer", "kind", "points", "held", "pending", "source",
                    "reason", "actor"]  # fmt: skip
    list_filter = ["kind"]
    search_fields = ["customer__email", "customer__phone", "source", "demand"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer", "actor"]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and _is_manager(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_view_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            entry = points_adjust(
                customer=data["customer"],
                points=data["points"],
                reason=data["reason"],
                actor=request.user,
                source=f"admin/{request.user.pk}/{uuid.uuid4().hex}",
            )
        except DomainError as exc:  # the balance moved since the form was checked
            self.message_user(request, exc.detail, level=messages.ERROR)
            return
        obj.pk = entry.pk
        obj._state.adding = False


CustomerAdmin.inlines = [PointsEntryInline]

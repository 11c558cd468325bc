import uuid

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.template.response import TemplateResponse

from common.errors import DomainError
from customers.models import Customer, CustomerEvent, PointsEntry
from customers.normalise import normalise_email, normalise_member_id, normalise_phone
from customers.points import points_adjust
from customers.selectors import (
    customer_points_summary,
    customer_search,
    customer_tier,
    customers_served,
)
from customers.serializers import PointsAdjustInputSerializer
from customers.services import customer_enrol, customer_merge, customer_update
from stores.admin import ScopedNotFoundMixin
from stores.models import StaffMembership
from stores.selectors import location_ids_for_user

# Customers found by an exact identifier in this session: staff may open them (they serve
# any customer at the counter) though none of their orders touch their stores.
LOOKED_UP_SESSION_KEY = "customers_looked_up"


def _customers_visible(request) -> Q | None:
    """The customers staff may open here: those their stores serve and those they looked up
    by an exact identifier; None for a superuser (every one)."""
    if location_ids_for_user(user=request.user) is None:
        return None
    looked_up = Q(pk__in=request.session.get(LOOKED_UP_SESSION_KEY, []))
    return looked_up | customers_served(user=request.user)


class CustomerAdminForm(forms.ModelForm):
    """Email and phone are checked and written as checkout writes them, so a person's edit
    can never make the next checkout miss this customer and create a second one."""

    class Meta:
        model = Customer
        fields = ["email", "phone", "name"]

    def clean_email(self) -> str | None:
        return normalise_email(self.cleaned_data.get("email"))

    def clean_phone(self) -> str | None:
        try:
            return normalise_phone(self.cleaned_data.get("phone"))
        except ValueError:
            raise forms.ValidationError("Not a valid phone number.") from None

    def clean(self):
        cleaned = super().clean()
        merged = self.instance.merged_into_id is not None
        if not cleaned.get("email") and not cleaned.get("phone") and not self.errors and not merged:
            raise forms.ValidationError("Give an email or a phone number.")
        return cleaned


class CustomerMergeForm(forms.Form):
    """Which of two records of one person survives; members with two ids need a yes."""

    survivor = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect)
    confirm_member_ids = forms.BooleanField(
        required=False,
        label="Both are members with different member ids: merge anyway "
        "(the survivor's id stays; the other still finds it)",
    )

    def __init__(self, *args, customers: list[Customer], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [
            (c.pk, f"{c} ({c.email or '-'}, {c.phone or '-'}, member {c.member_id or '-'})")
            for c in customers
        ]


class CustomerEventInline(admin.TabularInline):
    """The customer's own timeline: merges."""

    model = CustomerEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "message", "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _identifier_filters(term: str) -> dict[str, str]:
    """What an exact lookup term can be: an email, a phone (any way it is written), a
    member id."""
    term = term.strip()
    if "@" in term:
        return {"email": normalise_email(term)}
    found = {}
    try:
        if phone := normalise_phone(term):
            found["phone"] = phone
    except ValueError:
        pass
    if member_id := normalise_member_id(term):
        found["member_id"] = member_id
    return found


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """One customer across web, app and every store (orders adds their orders below).

    Staff see the customers of orders they can see, and anyone they find at the counter by
    exact phone, email or member id; superusers everyone.
    """

    form = CustomerAdminForm
    list_display = [
        "__str__", "email", "phone", "member_id", "merged_into", "created_at",
    ]  # fmt: skip
    list_filter = [("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["email", "phone", "name", "member_id"]
    search_help_text = "Phone (any format), email or member id finds any customer; or a name."
    readonly_fields = [
        "member_id", "enrolled_at", "merged_into", "merged_at", "merged_records_list",
        "points_balance", "points_tier", "created_at", "updated_at",
    ]  # fmt: skip
    inlines = [CustomerEventInline]  # and, set below, the points ledger

    @admin.display(description="Points")
    def points_balance(self, obj) -> str:
        if obj.pk is None:
            return "-"
        points = customer_points_summary(obj)
        return (
            f"{points['balance']} spendable (worth {points['value']}), {points['held']} held by "
            f"open orders, {points['pending']} pending"
        )

    @admin.display(description="Tier")
    def points_tier(self, obj) -> str:
        return customer_tier(obj) if obj.pk else "-"

    actions = ["enrol", "merge"]

    @admin.display(description="Records merged into this one")
    def merged_records_list(self, customer: Customer) -> str:
        merged = customer.merged_records.order_by("merged_at")
        shown = [f"{c.pk} ({c.email or c.phone or c.member_id or c}, {c.merged_at:%Y-%m-%d})"
                 for c in merged]  # fmt: skip
        return ", ".join(shown) or "-"

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("merged_into")
        visible = _customers_visible(request)
        return qs if visible is None else qs.filter(visible)

    def get_search_results(self, request, queryset, search_term):
        """A phone, email or member id, however typed, finds that customer (its survivor)
        whoever they are; anything else searches the customers this person may see."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        identifiers = _identifier_filters(search_term) if search_term else {}
        exact = list(customer_search(**identifiers).values_list("pk", flat=True))
        if not exact:
            return results, duplicates
        if location_ids_for_user(user=request.user) is not None:
            looked_up = set(request.session.get(LOOKED_UP_SESSION_KEY, [])) | set(exact)
            request.session[LOOKED_UP_SESSION_KEY] = sorted(looked_up)[-200:]
        return results | Customer.objects.filter(pk__in=exact), duplicates

    def has_enrol_permission(self, request) -> bool:
        """Any member of staff can enrol a customer at the till."""
        user = request.user
        return user.is_superuser or StaffMembership.objects.filter(user=user).exists()

    def has_merge_permission(self, request) -> bool:
        """Only managers merge: it cannot be undone."""
        user = request.user
        return (
            user.is_superuser
            or StaffMembership.objects.filter(user=user, role=StaffMembership.Role.MANAGER).exists()
        )

    @admin.action(description="Enrol as members (issue member ids)", permissions=["enrol"])
    def enrol(self, request, queryset):
        for customer in queryset:
            member = customer_enrol(customer=customer)
            self.message_user(request, f"{member}: member id {member.member_id}")

    @admin.action(description="Merge the two selected (one person)", permissions=["merge"])
    def merge(self, request, queryset):
        customers = list(queryset.order_by("pk"))
        if len(customers) != 2:
            self.message_user(request, "Select exactly two customers to merge.", messages.ERROR)
            return None
        form = CustomerMergeForm(
            request.POST if "survivor" in request.POST else None, customers=customers
        )
        if form.is_valid():
            survivor = next(c for c in customers if c.pk == form.cleaned_data["survivor"])
            merged = next(c for c in customers if c.pk != survivor.pk)
            try:
                customer_merge(
                    survivor=survivor,
                    merged=merged,
                    actor=request.user,
                    confirm_member_ids=form.cleaned_data["confirm_member_ids"],
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Customer {merged.pk} merged into {survivor}.")
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge two customers",
            "opts": self.model._meta,
            "customers": customers,
            "form": form,
            "both_members": all(c.member_id for c in customers),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/merge.html", context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        customer_update(
            customer=obj,
            email=data.get("email"),
            phone=data.get("phone"),
            name=data.get("name", ""),
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
            balance = customer_points_summary(customer)["balance"]
            if -points > balance:
                self.add_error("points", f"The customer has only {balance} points.")
        return cleaned


@admin.register(PointsEntry)
class PointsEntryAdmin(ScopedNotFoundMixin, admin.ModelAdmin):
    """The points entries of the customers this person may open (as on the customer page);
    managers add an adjustment (with a reason) here."""

    form = PointsAdjustmentForm
    list_display = ["created_at", "customer", "kind", "points", "held", "pending", "source",
                    "reason", "actor"]  # fmt: skip
    list_filter = ["kind"]
    search_fields = ["customer__email", "customer__phone", "source", "demand"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer", "actor"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        visible = _customers_visible(request)
        if visible is None:
            return qs
        return qs.filter(customer__in=Customer.objects.filter(visible))

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


CustomerAdmin.inlines = [*CustomerAdmin.inlines, PointsEntryInline]

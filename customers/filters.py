import django_filters
from django import forms

from customers.normalise import normalise_email, normalise_member_id, normalise_phone
from customers.selectors import customer_search


class CustomerLookupForm(forms.Form):
    """At least one exact identifier: a lookup never lists everyone."""

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["phone"] = normalise_phone(cleaned.get("phone"))
        except ValueError:
            self.add_error("phone", "Not a valid phone number.")
        cleaned["email"] = normalise_email(cleaned.get("email"))
        cleaned["member"] = normalise_member_id(cleaned.get("member"))
        if not self.errors and not any(cleaned.get(f) for f in ("email", "phone", "member")):
            raise forms.ValidationError("Give a phone, an email or a member id to look up.")
        return cleaned


class CustomerFilter(django_filters.FilterSet):
    """Exact, normalised lookups: a phone in any format, an email in any case, a member id
    with or without spaces. Several: the customers holding any of them."""

    email = django_filters.CharFilter(method="lookup", max_length=254, help_text="Any case.")
    phone = django_filters.CharFilter(
        method="lookup", max_length=32, help_text="Any format; read as E.164."
    )
    member = django_filters.CharFilter(
        method="lookup", max_length=40, help_text="A member id as printed; spaces and case aside."
    )

    class Meta:
        form = CustomerLookupForm
        fields = ["email", "phone", "member"]

    def lookup(self, queryset, name, value):
        return queryset  # all three are applied together in filter_queryset

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        found = customer_search(email=data["email"], phone=data["phone"], member_id=data["member"])
        return queryset.filter(pk__in=found.values("pk"))

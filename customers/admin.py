from django import forms
from django.contrib import admin

from customers.models import Customer
from customers.normalise import normalise_email, normalise_phone
from customers.services import customer_update


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
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        customer_update(
            customer=obj,
            email=data.get("email"),
            phone=data.get("phone"),
            name=data.get("name", ""),
            loyalty_id=data.get("loyalty_id", ""),
        )

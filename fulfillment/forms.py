"""Admin forms made from the API's input serializers, so a button takes exactly what the
API's action takes: the form only renders the fields, the serializer validates them."""

from django import forms
from rest_framework import serializers


def _form_field(field: serializers.Field) -> forms.Field:
    attrs = {"required": True} if field.required else {}
    if isinstance(field, serializers.ChoiceField):
        widget = forms.Select(attrs=attrs, choices=[("", "---------"), *field.choices.items()])
    elif isinstance(field, serializers.CharField):
        if field.max_length:
            attrs["maxlength"] = field.max_length
        widget = forms.TextInput(attrs=attrs)
    else:
        raise TypeError(f"no admin form field for {type(field).__name__}")
    # Not required here whatever the serializer says: it alone decides what is valid.
    return forms.CharField(required=False, widget=widget, help_text=field.help_text or "")


def serializer_form(serializer_class: type[serializers.Serializer]) -> type[forms.Form]:
    """A form with the serializer's fields that validates with the serializer; its
    `cleaned_data` is the serializer's `validated_data`."""

    def clean(self: forms.Form) -> dict:
        payload = serializer_class(
            data={name: self.data[name] for name in self.fields if name in self.data}
        )
        if payload.is_valid():
            return dict(payload.validated_data)
        for name, errors in payload.errors.items():
            self.add_error(name if name in self.fields else None, errors)
        return {}

    fields = {name: _form_field(field) for name, field in serializer_class().fields.items()}
    name = serializer_class.__name__.removesuffix("InputSerializer") + "Form"
    return type(name, (forms.Form,), {**fields, "clean": clean})

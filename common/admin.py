from django import forms
from django.conf import settings
from django.contrib import admin, messages

from common.models import ApiToken, OutboxEvent
from common.outbox import outbox_requeue
from common.tokens import token_digest, token_issue, token_revoke


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "channel"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Issue (the key is shown once, then only its digest is kept) and revoke API tokens."""

    list_display = ["prefix", "user", "channel", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["channel"]
    search_fields = ["prefix", "user__username"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "digest", "prefix", "channel", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        key = token_issue(user=obj.user, channel=obj.channel)
        obj.pk = ApiToken.objects.get(digest=token_digest(key)).pk
        self.message_user(
            request, f"New API token for {obj.user}: {key} (copy it now; it is not shown again)",
            messages.WARNING,
        )  # fmt: skip

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        revoked = token_revoke(tokens=queryset)
        self.message_user(request, f"Revoked {revoked} token(s).")


class OutboxStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting"), ("failed", "Given up (needs a person)"),
                ("processed", "Processed")]  # fmt: skip

    def queryset(self, request, queryset):
        unprocessed = queryset.filter(processed_at__isnull=True)
        if self.value() == "waiting":
            return unprocessed.filter(attempts__lt=settings.OUTBOX_MAX_ATTEMPTS)
        if self.value() == "failed":
            return unprocessed.filter(attempts__gte=settings.OUTBOX_MAX_ATTEMPTS)
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "topic", "created_at", "processed_at", "attempts", "last_error"]
    list_filter = [OutboxStateFilter, "topic"]
    search_fields = ["topic"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["queue_again"]

    @admin.action(description="Queue selected events again now")
    def queue_again(self, request, queryset):
        queued = outbox_requeue(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {queued} unprocessed event(s) again.")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone

from common.models import ApiToken, OutboxEvent
from common.outbox import outbox_requeue
from common.tokens import token_digest, token_issue, token_refusal, token_revoke


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "channel", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("A new token must expire in the future.")
        return expires_at


class ApiTokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Works"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        live = queryset.filter(revoked_at__isnull=True)
        if self.value() == "active":
            return live.exclude(expires_at__lte=now)
        if self.value() == "expired":
            return live.filter(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Issue (the key is shown once, then only its digest is kept, optionally expiring) and
    revoke API tokens."""

    list_display = [
        "prefix", "user", "channel", "state", "created_at", "expires_at", "last_used_at",
        "revoked_at",
    ]  # fmt: skip
    list_filter = [ApiTokenStateFilter, "channel"]
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
        return [
            "user", "digest", "prefix", "channel", "created_at", "expires_at", "last_used_at",
            "revoked_at",
        ]  # fmt: skip

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        refusal = token_refusal(token=token, now=timezone.now())
        return "works" if refusal is None else refusal.code.removeprefix("token_")

    def save_model(self, request, obj, form, change):
        if change:
            return
        key = token_issue(user=obj.user, channel=obj.channel, expires_at=obj.expires_at)
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

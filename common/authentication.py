from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from common.models import ApiToken
from common.throttling import TokenFailureThrottle
from common.tokens import token_digest, token_refusal


class HashedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, checked against the stored SHA-256 digest."""

    model = ApiToken

    def authenticate(self, request):
        failures = TokenFailureThrottle()
        if failures.blocked(request):
            raise exceptions.Throttled(
                wait=failures.wait(), detail="Too many wrong tokens from this address."
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.record_failure(request)
            raise

    def authenticate_credentials(self, key: str):
        # The digest is unique: one row or none, no ORDER BY and LIMIT; the user read with it.
        try:
            token = ApiToken.objects.select_related("user").get(
                digest=token_digest(key), user__is_active=True
            )
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        now = timezone.now()
        refusal = token_refusal(token=token, now=now)  # on the row just read: no query more
        if refusal is not None:
            raise exceptions.AuthenticationFailed(refusal.detail, code=refusal.code)
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

import functools

from django.contrib.auth import get_user_model
from django.db import connection
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
        token = _active_token(digest=token_digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        refusal = token_refusal(token=token, now=now)  # on the row just read: no query more
        if refusal is not None:
            raise exceptions.AuthenticationFailed(refusal.detail, code=refusal.code)
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


def _active_token(*, digest: str) -> ApiToken | None:
    """The token of this digest with its user (`token.user`), when the user is active: one
    query under a text written once on PostgreSQL (every API request asks it)."""
    if connection.vendor != "postgresql":
        # Elsewhere (the embedded SQLite) the ORM's converters make its datetimes aware.
        return (
            ApiToken.objects.select_related("user")
            .filter(digest=digest, user__is_active=True)
            .first()
        )
    sql, token_names, user_names = _active_token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, (digest, True))
        row = cursor.fetchone()  # the digest is unique: one row or none
    if row is None:
        return None
    token = ApiToken.from_db(connection.alias, token_names, row[: len(token_names)])
    user = get_user_model().from_db(connection.alias, user_names, row[len(token_names) :])
    ApiToken.user.field.set_cached_value(token, user)
    return token


@functools.cache
def _active_token_sql() -> tuple[str, list[str], list[str]]:
    """What `ApiToken.objects.select_related("user").get(digest=..., user__is_active=True)`
    reads, and the attribute names of its token and user columns."""
    qn = connection.ops.quote_name
    token_opts, user_opts = ApiToken._meta, get_user_model()._meta
    token_fields, user_fields = token_opts.concrete_fields, user_opts.concrete_fields
    columns = [f"t.{qn(f.column)}" for f in token_fields]
    columns += [f"u.{qn(f.column)}" for f in user_fields]
    user_fk = qn(token_opts.get_field("user").column)
    # Table and column names only; both values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(token_opts.db_table)} t"  # noqa: S608
        f" JOIN {qn(user_opts.db_table)} u ON u.{qn(user_opts.pk.column)} = t.{user_fk}"
        f" WHERE t.{qn(token_opts.get_field('digest').column)} = %s"
        f" AND u.{qn(user_opts.get_field('is_active').column)} = %s"
    )
    return sql, [f.attname for f in token_fields], [f.attname for f in user_fields]
